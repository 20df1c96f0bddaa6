//! `vutler-render`: render, validate and explain the Vutler stack specs.
//!
//! The only place (with `xtask`) that reads the terminal, prints and chooses exit codes:
//! 0 success, 2 invalid input or usage.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use codespan_reporting::diagnostic::{Diagnostic as Pretty, Label, Severity as PrettySeverity};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, termcolor};
use vutler_spec::{Report, Severity};

/// Exit code for invalid input or usage.
const EXIT_INVALID: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "vutler-render",
    version,
    about = "Render the Vutler stack from its typed specs",
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  vutler-render --env staging --out deploy/staging   write the staging tree\n  vutler-render --env production | less             every file behind a `# Source: <path>` banner\n  vutler-render validate --env production\n\nExit status: 0 rendered, 2 invalid spec or usage (nothing is written)."
)]
struct Cli {
    /// Environment to render (an overlay file in the spec folder's env/).
    #[arg(long)]
    env: Option<String>,
    /// Write the tree into this folder instead of printing it.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Spec folder (with base/ and env/).
    #[arg(long, global = true, default_value = "specs", value_name = "DIR")]
    spec: PathBuf,
    /// Never colour diagnostics (colour is only used on a terminal anyway).
    #[arg(long, global = true)]
    no_color: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the spec of an environment; print every problem found.
    #[command(
        after_help = "Examples:\n  vutler-render validate --env production\n  vutler-render validate --env dev --spec path/to/specs\n\nExit status: 0 valid (warnings are printed), 2 invalid."
    )]
    Validate {
        /// Environment (an overlay file in the spec folder's env/).
        #[arg(long)]
        env: String,
    },
    /// Print the effective spec of an environment (base files joined, overlay applied) as YAML.
    #[command(
        after_help = "Examples:\n  vutler-render explain --env production\n  vutler-render explain --env dev > dev-effective.yaml\n\nExit status: 0 printed, 2 invalid spec."
    )]
    Explain {
        /// Environment (an overlay file in the spec folder's env/).
        #[arg(long)]
        env: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let Some(command) = &cli.command else {
        let Some(env) = &cli.env else {
            eprintln!("error: give `--env <ENV>` to render, or a command (see --help)");
            return Ok(ExitCode::from(EXIT_INVALID));
        };
        return render(cli, env);
    };
    match command {
        Command::Validate { env } => {
            let loaded = match vutler_spec::load(&cli.spec, env) {
                Ok(l) => l,
                Err(report) => return Ok(invalid(cli, &report)),
            };
            print_report(cli, &loaded.warnings)?;
            let warnings = loaded.warnings.diagnostics.len();
            println!(
                "{env}: valid ({} services on VM `{}`{})",
                loaded.stack.services.len(),
                loaded.stack.target_vm,
                match warnings {
                    0 => String::new(),
                    1 => ", 1 warning".to_owned(),
                    n => format!(", {n} warnings"),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { env } => {
            let files = match vutler_spec::read_dir(&cli.spec, env) {
                Ok(f) => f,
                Err(report) => return Ok(invalid(cli, &report)),
            };
            let loaded = match files.resolve() {
                Ok(l) => l,
                Err(report) => return Ok(invalid(cli, &report)),
            };
            print_report(cli, &loaded.warnings)?;
            let names: Vec<&str> = files.sources().iter().map(|(_, f)| f.name.as_str()).collect();
            let yaml = serde_yaml::to_string(&loaded.tree.to_json())?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "# Effective spec of `{env}`: {}", names.join(" + "))?;
            out.write_all(yaml.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Renders one environment, to a folder or to stdout. Nothing is written unless all of it rendered.
fn render(cli: &Cli, env: &str) -> anyhow::Result<ExitCode> {
    let loaded = match vutler_spec::load(&cli.spec, env) {
        Ok(l) => l,
        Err(report) => return Ok(invalid(cli, &report)),
    };
    print_report(cli, &loaded.warnings)?;
    let tree = match vutler_render::render(&loaded.stack) {
        Ok(tree) => tree,
        // A config mount of a file nothing renders is a mistake in the spec, not in the tool.
        Err(e @ vutler_render::RenderError::MissingConfig { .. }) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_INVALID));
        }
        Err(e) => return Err(anyhow::Error::new(e).context("vutler-render failed on a valid spec (a bug)")),
    };
    match &cli.out {
        Some(dir) => {
            for (path, contents) in tree.iter() {
                let target = dir.join(path);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
                }
                std::fs::write(&target, contents).with_context(|| format!("writing {}", target.display()))?;
            }
            eprintln!("{env}: wrote {} files to {}", tree.len(), dir.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            for (i, (path, contents)) in tree.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                writeln!(out, "# Source: {path}")?;
                out.write_all(contents.as_bytes())?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn invalid(cli: &Cli, report: &Report) -> ExitCode {
    if let Err(e) = print_report(cli, report) {
        eprintln!("error: cannot print diagnostics: {e:#}");
    }
    let errors = report
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    eprintln!("{errors} error{} found", if errors == 1 { "" } else { "s" });
    ExitCode::from(EXIT_INVALID)
}

/// Prints diagnostics to stderr with source excerpts, coloured only on a terminal.
fn print_report(cli: &Cli, report: &Report) -> anyhow::Result<()> {
    let mut files = SimpleFiles::new();
    let ids: Vec<usize> = report
        .sources
        .iter()
        .map(|(_, f)| files.add(f.name.clone(), f.text.clone()))
        .collect();
    let color = if cli.no_color || std::env::var_os("NO_COLOR").is_some() || !std::io::stderr().is_terminal() {
        termcolor::ColorChoice::Never
    } else {
        termcolor::ColorChoice::Auto
    };
    let stream = termcolor::StandardStream::stderr(color);
    let mut lock = stream.lock();
    let config = term::Config::default();
    for d in &report.diagnostics {
        let severity = match d.severity {
            Severity::Error => PrettySeverity::Error,
            Severity::Warning => PrettySeverity::Warning,
        };
        let message = if d.path.is_empty() {
            d.message.clone()
        } else {
            format!("{}: {}", d.path, d.message)
        };
        let mut pretty = Pretty::new(severity).with_code(d.code).with_message(message);
        let mut labels = Vec::new();
        if let Some(span) = d.span {
            labels.push(Label::primary(ids[span.file.index()], span.range()));
        }
        for (span, label) in &d.related {
            labels.push(Label::secondary(ids[span.file.index()], span.range()).with_message(label.clone()));
        }
        pretty = pretty.with_labels(labels);
        if let Some(help) = &d.help {
            pretty = pretty.with_notes(vec![format!("help: {help}")]);
        }
        term::emit_to_write_style(&mut lock, &config, &files, &pretty)?;
    }
    Ok(())
}
