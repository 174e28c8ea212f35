use clap::Parser;

fn main() {
    let cli = persist::cli::Cli::parse();
    std::process::exit(persist::cli::main(cli));
}
