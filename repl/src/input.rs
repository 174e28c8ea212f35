//! Is an input finished, or should Enter continue it on a new line?
//!
//! A small scanner over Rhai's delimiters rather than the parser's error
//! text: parse errors do not say reliably whether more input would fix them,
//! while an open bracket, string or comment always means "not yet".

/// What is open at a point of the input.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    /// `(`, `[` or `{` (also the `{` of `#{`).
    Delim(char),
    /// A backtick string: no escapes, `` `` `` is a literal backtick.
    Backtick,
    /// `${ ... }` inside a backtick string.
    Interp,
}

/// True when the input ends inside an open bracket, brace, parenthesis,
/// string, character literal or block comment. A closing delimiter that
/// matches nothing makes the input complete: more text cannot fix it, so the
/// parser should report it.
pub fn is_incomplete(src: &str) -> bool {
    let mut stack: Vec<Open> = Vec::new();
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        if stack.last() == Some(&Open::Backtick) {
            match c {
                '`' if chars.peek() == Some(&'`') => {
                    chars.next();
                }
                '`' => {
                    stack.pop();
                }
                '$' if chars.peek() == Some(&'{') => {
                    chars.next();
                    stack.push(Open::Interp);
                }
                _ => {}
            }
            continue;
        }
        match c {
            '"' | '\'' if !skip_quoted(&mut chars, c) => return true,
            '/' if chars.peek() == Some(&'/') => {
                chars.by_ref().find(|&c| c == '\n');
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                if !skip_block_comment(&mut chars) {
                    return true;
                }
            }
            '`' => stack.push(Open::Backtick),
            '(' | '[' | '{' => stack.push(Open::Delim(c)),
            ')' | ']' | '}' => {
                let closes = match stack.last() {
                    Some(Open::Interp) => c == '}',
                    Some(Open::Delim(open)) => {
                        matches!((open, c), ('(', ')') | ('[', ']') | ('{', '}'))
                    }
                    _ => false,
                };
                if !closes {
                    return false;
                }
                stack.pop();
            }
            _ => {}
        }
    }
    !stack.is_empty()
}

/// Skips a `"..."` string or `'.'` character literal after its opening
/// quote; false when the input ends first.
fn skip_quoted(chars: &mut impl Iterator<Item = char>, quote: char) -> bool {
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.next().is_none() => return false,
            c if c == quote => return true,
            _ => {}
        }
    }
    false
}

/// Skips a block comment after its `/*`; Rhai's block comments nest. False
/// when the input ends first.
fn skip_block_comment(chars: &mut std::iter::Peekable<impl Iterator<Item = char>>) -> bool {
    let mut depth = 1;
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('*', Some('/')) => {
                chars.next();
                depth -= 1;
                if depth == 0 {
                    return true;
                }
            }
            ('/', Some('*')) => {
                chars.next();
                depth += 1;
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::is_incomplete;

    #[test]
    fn open_delimiters_continue() {
        assert!(is_incomplete("fn f(x) {"));
        assert!(is_incomplete("let a = [1,"));
        assert!(is_incomplete("print(1,"));
        assert!(is_incomplete("let m = #{a: 1,"));
        assert!(is_incomplete("fn f(x) {\n if x {\n 1 }"));
    }

    #[test]
    fn closed_input_is_complete() {
        assert!(!is_incomplete("fn f(x) {\n x + 1 }"));
        assert!(!is_incomplete("let a = [1,\n2]"));
        assert!(!is_incomplete("let m = #{a: \"}\"}; m"));
        assert!(!is_incomplete("'{'"));
        assert!(!is_incomplete("1 + 2 // {"));
        assert!(!is_incomplete(""));
    }

    #[test]
    fn unterminated_strings_continue() {
        assert!(is_incomplete("let s = \"abc"));
        assert!(is_incomplete("let s = \"abc\\\""));
        assert!(is_incomplete("let s = `abc"));
        assert!(is_incomplete("let s = `a ${x + 1"));
        assert!(!is_incomplete("let s = `a ${ #{b: 1}.b } ``c`` d`"));
        assert!(is_incomplete("/* a /* nested */ comment"));
        assert!(!is_incomplete("/* a /* nested */ comment */ 1"));
    }

    #[test]
    fn a_stray_closer_is_left_to_the_parser() {
        assert!(!is_incomplete("1 }"));
        assert!(!is_incomplete("fn f() { ) "));
        assert!(!is_incomplete("[1, 2)"));
    }
}
