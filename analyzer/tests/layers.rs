//! The analyzer's modules form layers (docs/architecture.md): a module may use its own layer's
//! lower neighbours and anything below, never a module above it. This test reads the sources and
//! fails on any `crate::` path that reaches up, so an import cycle cannot creep back in. Test-only
//! files and `#[cfg(test)] mod tests` blocks are not checked.

use std::path::{Path, PathBuf};

/// Lowest first. Modules in one layer do not use each other unless listed in an earlier layer.
const LAYERS: &[&[&str]] = &[
    &["wire", "inline", "ports", "assoc_cache", "block_pool"],
    &["mirror", "tcp", "capture_filter"],
    &["flow"],
    &["metrics"],
    &["record"],
    &["l7", "aggregate"],
    &["counters", "config"],
    &["engine", "syscall"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn is_test_file(rel: &str) -> bool {
    rel.ends_with("tests.rs") || rel.ends_with("talk.rs") || rel.ends_with("mutate.rs")
}

/// `crate::name` and `crate::{a, b::c}` references of one source text (test blocks removed).
fn uses(text: &str) -> Vec<String> {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + 7..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
    out
}

#[test]
fn no_module_uses_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut violations = Vec::new();
    let mut checked = 0;
    for f in files {
        let rel = f
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if is_test_file(&rel) || rel == "lib.rs" {
            continue;
        }
        let module = rel.split(['/', '.']).next().unwrap().to_string();
        let Some(own) = layer_of(&module) else {
            violations.push(format!("{rel}: module {module} is in no layer"));
            continue;
        };
        checked += 1;
        let text = std::fs::read_to_string(&f).unwrap();
        for used in uses(&text) {
            // Items of the crate root (PacketMeta, the named_counters! macro) are below all.
            let Some(l) = layer_of(&used) else { continue };
            if l > own {
                violations.push(format!(
                    "{rel} ({module}, layer {own}) uses {used} (layer {l})"
                ));
            }
        }
    }
    assert!(checked > 50, "sources found: {checked}");
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}
