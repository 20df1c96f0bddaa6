//! `cargo xtask`: regenerate the files this repository commits, or check that they are fresh.
//!
//! - `cargo xtask schema`: writes `specs/vutler-spec.schema.json` from the spec types.
//! - `cargo xtask check`: fails when a generated file is stale (CI runs this too).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["schema"] => schema(Mode::Write),
        ["check"] => schema(Mode::Check),
        _ => {
            eprintln!(
                "usage: cargo xtask <schema|check>\n  schema  regenerate specs/{}\n  check   fail if a generated file is stale",
                vutler_spec::schema::FILE_NAME
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether to write generated files or only compare them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Write,
    Check,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn schema(mode: Mode) -> anyhow::Result<()> {
    let path = root().join("specs").join(vutler_spec::schema::FILE_NAME);
    let fresh = vutler_spec::schema::json_schema_text();
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current == fresh {
        println!("{} is up to date", path.display());
        return Ok(());
    }
    match mode {
        Mode::Write => {
            std::fs::write(&path, fresh).with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
            Ok(())
        }
        Mode::Check => bail!("{} is stale: run `cargo xtask schema`", path.display()),
    }
}
