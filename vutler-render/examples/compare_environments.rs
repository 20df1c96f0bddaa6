//! Library use of vutler-spec and vutler-render: load two environments of a spec folder, render
//! both in memory and print how their trees differ, with the public API only.
//!
//! ```sh
//! cargo run -p vutler-render --example compare_environments -- specs staging production
//! ```
//!
//! Exits 0 when the trees are identical, 1 when they differ, 2 on bad arguments or a spec error.

use std::path::Path;
use std::process::ExitCode;

use vutler_render::diff::{Labels, diff_rendered};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [spec, a, b] = args.as_slice() else {
        eprintln!("usage: compare_environments <spec folder> <env> <env>");
        return ExitCode::from(2);
    };
    let mut trees = Vec::new();
    for env in [a, b] {
        // `load` reads, merges and validates; a `Report` lists every problem with its location.
        let loaded = match vutler_spec::load(Path::new(spec), env) {
            Ok(loaded) => loaded,
            Err(report) => {
                eprintln!("{env}: invalid spec\n{report}");
                return ExitCode::from(2);
            }
        };
        // `render` is pure: the same stack gives the same tree, and nothing touches the disk.
        match vutler_render::render(&loaded.stack) {
            Ok(tree) => trees.push(tree),
            Err(e) => {
                eprintln!("{env}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    // A real caller passes `Redaction::of_stack`, so every secret the stack declares is hidden.
    let diff = diff_rendered(&trees[0], &trees[1], Labels { old: a, new: b }, &Default::default());
    if diff.is_empty() {
        println!("{a} and {b} render the same {} files", trees[0].len());
        return ExitCode::SUCCESS;
    }
    for file in &diff.changed {
        // Values of secret-looking keys are already redacted in these diffs.
        print!("{}", file.diff);
    }
    for path in &diff.unexpected {
        println!("only in {a}: {path}");
    }
    for path in &diff.missing {
        println!("only in {b}: {path}");
    }
    println!(
        "{a} -> {b}: {} changed, {} only in {a}, {} only in {b}",
        diff.changed.len(),
        diff.unexpected.len(),
        diff.missing.len()
    );
    ExitCode::from(1)
}
