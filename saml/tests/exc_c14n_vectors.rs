//! Exclusive canonicalization against the data files in `tests/vectors/exc-c14n`.

use std::path::Path;

use idforge_saml::xml::{self, c14n};

#[test]
fn exc_c14n_vectors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/exc-c14n");
    let cases = std::fs::read_to_string(dir.join("cases.txt")).unwrap();
    let mut count = 0;
    for line in cases
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [input, apex, comments, prefixes, expected] = f[..] else {
            panic!("bad line {line}");
        };
        let doc = xml::parse(&std::fs::read(dir.join(input)).unwrap()).unwrap();
        let apex_id = if apex == "/" {
            doc.root()
        } else {
            doc.descendant_elements(doc.root())
                .into_iter()
                .find(|&n| doc.element(n).unwrap().name.local == apex)
                .unwrap()
        };
        let opts = c14n::C14nOptions {
            with_comments: comments == "yes",
            inclusive_prefixes: if prefixes == "-" {
                Vec::new()
            } else {
                prefixes.split(',').map(str::to_owned).collect()
            },
            exclude: None,
        };
        let got = c14n::canonicalize(&doc, apex_id, &opts).unwrap();
        let want = std::fs::read_to_string(dir.join(expected)).unwrap();
        assert_eq!(got, want, "case: {line}");
        count += 1;
    }
    assert!(count >= 16, "only {count} cases ran");
}

#[test]
fn rfc3741_example_is_context_free() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/exc-c14n");
    let mut outs = Vec::new();
    for f in ["rfc3741-2.2-a.xml", "rfc3741-2.2-b.xml"] {
        let doc = xml::parse(&std::fs::read(dir.join(f)).unwrap()).unwrap();
        let elem2 = doc.child_elements(doc.root()).next().unwrap().0;
        outs.push(c14n::canonicalize(&doc, elem2, &c14n::C14nOptions::default()).unwrap());
    }
    assert_eq!(outs[0], outs[1]);
}
