//! The `persist` command line.
