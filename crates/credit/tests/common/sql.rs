//! A tiny interpreter for the SQL the scorecard exports: a sum of
//! `(CASE WHEN "c" IS NULL THEN n WHEN "c" IN (…) THEN n WHEN "c" < v THEN n … ELSE n END)`.
//! Enough to check that the generated text scores like `Scorecard::score`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use riskstream_credit::Value;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Ident(String),
    Str(String),
    Num(f64),
    Sym(char),
}

fn lex(s: &str) -> Vec<Tok> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '"' || ch == '\'' {
            let mut t = String::new();
            i += 1;
            loop {
                if c[i] == ch {
                    if i + 1 < c.len() && c[i + 1] == ch {
                        t.push(ch);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                t.push(c[i]);
                i += 1;
            }
            out.push(if ch == '"' {
                Tok::Ident(t)
            } else {
                Tok::Str(t)
            });
        } else if ch.is_ascii_digit()
            || (ch == '-' && c.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            i += 1;
            while i < c.len()
                && (c[i].is_ascii_alphanumeric() || c[i] == '.' || c[i] == '-' || c[i] == '+')
            {
                i += 1;
            }
            out.push(Tok::Num(
                c[start..i].iter().collect::<String>().parse().unwrap(),
            ));
        } else if ch.is_ascii_alphabetic() {
            let start = i;
            while i < c.len() && c[i].is_ascii_alphabetic() {
                i += 1;
            }
            out.push(Tok::Word(c[start..i].iter().collect()));
        } else {
            out.push(Tok::Sym(ch));
            i += 1;
        }
    }
    out
}

/// Evaluates the exported expression with column values from `row`.
pub fn eval<'a>(sql: &str, row: &dyn Fn(&str) -> Value<'a>) -> i64 {
    let t = lex(sql);
    let mut i = 0;
    let mut total = 0i64;
    let word = |i: usize, w: &str| matches!(&t[i], Tok::Word(x) if x == w);
    while i < t.len() {
        assert_eq!(t[i], Tok::Sym('('));
        assert!(word(i + 1, "CASE"));
        i += 2;
        let mut result: Option<i64> = None;
        while word(i, "WHEN") {
            let Tok::Ident(col) = &t[i + 1] else {
                panic!("column")
            };
            let v = row(col);
            i += 2;
            let hit = if word(i, "IS") {
                i += 2; // IS NULL
                matches!(v, Value::Num(x) if x.is_nan()) || v == Value::Cat(None)
            } else if word(i, "IN") {
                i += 2; // IN (
                let mut any = false;
                loop {
                    match (&t[i], v) {
                        (Tok::Str(s), Value::Cat(Some(c))) => any |= s == c,
                        (Tok::Num(n), Value::Num(x)) => any |= *n == x,
                        _ => {}
                    }
                    i += 1;
                    if t[i] == Tok::Sym(')') {
                        i += 1;
                        break;
                    }
                    i += 1; // comma
                }
                any
            } else {
                assert_eq!(t[i], Tok::Sym('<'));
                let Tok::Num(n) = t[i + 1] else {
                    panic!("number")
                };
                i += 2;
                matches!(v, Value::Num(x) if !x.is_nan() && x < n)
            };
            assert!(word(i, "THEN"));
            let Tok::Num(p) = t[i + 1] else {
                panic!("points")
            };
            i += 2;
            if hit && result.is_none() {
                result = Some(p as i64);
            }
        }
        assert!(word(i, "ELSE"));
        let Tok::Num(p) = t[i + 1] else {
            panic!("points")
        };
        assert!(word(i + 2, "END"));
        assert_eq!(t[i + 3], Tok::Sym(')'));
        i += 4;
        total += result.unwrap_or(p as i64);
        if i < t.len() {
            assert_eq!(t[i], Tok::Sym('+'));
            i += 1;
        }
    }
    total
}
