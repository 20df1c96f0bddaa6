//! `vutler-render`: render, validate, explain, check and plan the Vutler stack specs.
//!
//! The only place (with `xtask`) that reads the terminal, prints and chooses exit codes:
//! 0 success, 1 drift or a stack that does not fit (`check`, `diff`, `plan`), 2 invalid input or
//! usage.
//!
//! Modules: `check` compares trees (`check`, `diff`), `write` writes a tree into a folder with its
//! manifest, `plan` prints the capacity and cost plan.

mod check;
mod plan;
mod report;
mod write;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{ArgAction, CommandFactory, Parser, Subcommand, ValueEnum};
use codespan_reporting::diagnostic::{Diagnostic as Pretty, Label, Severity as PrettySeverity};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, termcolor};
use vutler_render::Rendered;
use vutler_spec::{Diagnostic, Loaded, Report, Severity, Stack};

/// The allocator. Loading, validating and rendering make many small allocations (a node, a
/// key and a spec path per value); with glibc's allocator half of a 10,000-service render was
/// spent in `malloc` and `free`, consolidating free chunks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for drift (`check`, `diff`) or a stack that does not fit its VM (`plan`).
const EXIT_DIFFERENT: u8 = 1;
/// Exit code for invalid input or usage.
const EXIT_INVALID: u8 = 2;
/// Exit code for a file that could not be read or written (`--out`).
const EXIT_IO: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "vutler-render",
    version,
    about = "Render the Vutler stack from its typed specs",
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  vutler-render --env staging --out deploy/staging   write the staging tree\n  vutler-render --env production | less             every file behind a `# Source: <path>` banner\n  vutler-render validate --env production\n  vutler-render check --env production --against deploy/production\n\nExit status: 0 rendered, 2 invalid spec or usage (nothing is written), 3 a file could not be\nwritten (the message says which files are new and which old)."
)]
struct Cli {
    /// Environment to render (an overlay file in the spec folder's env/).
    #[arg(long)]
    env: Option<String>,
    /// Render every environment of the spec folder: into `DIR/<env>/` with `--out`. Nothing is
    /// written unless every environment renders.
    #[arg(long, conflicts_with = "env")]
    all_envs: bool,
    /// Write the tree into this folder instead of printing it. Files the folder holds that
    /// vutler-render did not generate are left alone; generated files it no longer renders are
    /// removed (they are listed in DIR/.vutler-render.manifest).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// With `--out`: replace files at paths vutler-render newly renders that it did not
    /// generate (hand-written ones). Without it, such a file stops the render before anything
    /// is written.
    #[arg(long, requires = "out")]
    overwrite: bool,
    /// Print only this file of the tree, exactly as `--out` writes it; or a folder of the tree
    /// (`prometheus/`), or several `--show-only`, each file behind its `# Source:` banner.
    #[arg(long, value_name = "PATH", conflicts_with = "out", action = ArgAction::Append)]
    show_only: Vec<String>,
    /// Spec folder (with base/ and env/).
    #[arg(long, global = true, default_value = "specs", value_name = "DIR")]
    spec: PathBuf,
    /// Never colour output (the same as `--color never`).
    #[arg(long, global = true)]
    no_color: bool,
    /// When to colour output: `auto` (on a terminal, unless NO_COLOR is set), `always` (CI logs
    /// that render colours) or `never`.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    color: ColorWhen,
    /// Print only problems: no line per file written, no summary of a success.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Also print a line per file left unchanged.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the spec of an environment; print every problem found.
    #[command(
        after_help = "Examples:\n  vutler-render validate --env production\n  vutler-render validate --env dev --spec path/to/specs\n  vutler-render validate --env production --strict --format sarif > vutler.sarif\n\nExit status: 0 valid (warnings are printed), 2 invalid (with --strict, a warning too)."
    )]
    Validate {
        /// Environment (an overlay file in the spec folder's env/).
        #[arg(long, required_unless_present = "all_envs", conflicts_with = "all_envs")]
        env: Option<String>,
        /// Every environment of the spec folder (JSON: one object a line; SARIF: one run each).
        #[arg(long)]
        all_envs: bool,
        /// How problems are printed: `text` (for people, on stderr), `json` (one object on
        /// stdout) or `sarif` (SARIF 2.1.0 on stdout, for code scanning)
        #[arg(long, value_enum, default_value_t = DiagnosticsFormat::Text)]
        format: DiagnosticsFormat,
        /// Warnings fail the run too (exit 2)
        #[arg(long)]
        strict: bool,
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
    /// Render in memory and compare with a folder: changed files (as unified diffs), missing
    /// ones, and generated ones no longer rendered. Files vutler-render does not generate are
    /// ignored; secret-looking values are never printed.
    #[command(
        after_help = "Examples:\n  vutler-render check --env production --against deploy/production\n  vutler-render check --env staging --against golden/staging --format json | jq .in_sync\n\nExit status: 0 in sync, 1 drift, 2 invalid spec, usage or an unreadable folder."
    )]
    Check {
        /// Environment (an overlay file in the spec folder's env/).
        #[arg(long, required_unless_present = "all_envs", conflicts_with = "all_envs")]
        env: Option<String>,
        /// Every environment of the spec folder, each against `DIR/<env>/` (JSON: one object a
        /// line).
        #[arg(long)]
        all_envs: bool,
        /// Folder holding a rendered tree (written by `--out`, or a copy of one); with
        /// `--all-envs`, the folder holding one such tree per environment.
        #[arg(long, value_name = "DIR")]
        against: PathBuf,
        /// How differences are printed: `text` (unified diffs), `json` (one object on stdout) or
        /// `sarif` (SARIF 2.1.0 on stdout, each difference at its file in the folder, beside
        /// the spec's problems)
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
    },
    /// Show what differs between the trees of two environments.
    #[command(
        after_help = "Examples:\n  vutler-render diff --env staging --env production\n  vutler-render diff --env dev --env staging --format json\n\nExit status: 0 identical, 1 different, 2 invalid spec or usage."
    )]
    Diff {
        /// The two environments to compare: give `--env` twice, the first is the old side.
        #[arg(long = "env", value_name = "ENV", required = true, action = ArgAction::Append)]
        envs: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print the capacity plan (each service's cpu, memory and disk, the totals against the VM,
    /// with and without the scale-out plans) and the monthly cost estimate.
    #[command(
        after_help = "Examples:\n  vutler-render plan --env production\n  vutler-render plan --env staging --spec path/to/specs\n\nExit status: 0 the stack fits its VM, 1 it does not (the plan is still printed), 2 invalid spec."
    )]
    Plan {
        /// Environment (an overlay file in the spec folder's env/).
        #[arg(long)]
        env: String,
    },
    /// Draw the stack: services by network, published ports and on which interface, who waits
    /// for whom, the proxy's upstream, who scrapes whom and where each backup goes.
    #[command(
        after_help = "Examples:\n  vutler-render graph --env production                  Mermaid (GitHub renders it in Markdown)\n  vutler-render graph --env production --format dot | dot -Tsvg > stack.svg\n\nExit status: 0 drawn, 2 invalid spec."
    )]
    Graph {
        /// Environment (an overlay file in the spec folder's env/).
        #[arg(long)]
        env: String,
        /// `mermaid` or `dot` (Graphviz).
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// Print the JSON schema of spec files (what specs/vutler-spec.schema.json holds), or with
    /// `--stack` that of a whole stack (specs/vutler-stack.schema.json: required keys marked)
    #[command(
        after_help = "Examples:\n  vutler-render schema > specs/vutler-spec.schema.json\n  vutler-render schema | jq '.properties | keys'\n  vutler-render explain --env production > stack.yaml  # checked by: vutler-render schema --stack\n\nExit status: 0 printed."
    )]
    Schema {
        /// The schema of a whole stack (a one-file spec, or what `explain` prints), which marks
        /// the keys every stack must have as required; spec files are fragments and need none
        #[arg(long)]
        stack: bool,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  vutler-render completions bash > ~/.local/share/bash-completion/completions/vutler-render\n  vutler-render completions zsh > ~/.zfunc/_vutler-render\n  vutler-render completions fish > ~/.config/fish/completions/vutler-render.fish\n\nExit status: 0 printed, 2 unknown shell."
    )]
    Completions {
        /// Shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a manual page (roff), vutler-render's or a command's; or write them all into a
    /// folder.
    #[command(
        after_help = "Examples:\n  vutler-render man | man -l -\n  vutler-render man check | man -l -\n  vutler-render man --out /usr/local/share/man/man1   vutler-render.1 and a page per command\n\nExit status: 0 printed or written, 2 unknown command, 3 the folder cannot be written."
    )]
    Man {
        /// The command whose page to print (`check` for vutler-render-check(1)).
        #[arg(value_name = "COMMAND", conflicts_with = "out")]
        command: Option<String>,
        /// Write every page into this folder (`vutler-render.1`, `vutler-render-check.1`, ...).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorWhen {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always, even into a pipe or a file.
    Always,
    /// Never.
    Never,
}

/// How `graph` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum GraphFormat {
    /// A Mermaid flowchart.
    Mermaid,
    /// A Graphviz digraph.
    Dot,
}

/// How `validate` prints the problems it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DiagnosticsFormat {
    /// Excerpts of the spec files with the problems marked, for people.
    Text,
    /// One JSON object, for other tools.
    Json,
    /// SARIF 2.1.0, for code scanning (GitHub, GitLab).
    Sarif,
}

/// How `check` prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CheckFormat {
    /// Unified diffs and lists, for people.
    Text,
    /// One JSON object, for other tools.
    Json,
    /// SARIF 2.1.0, for code scanning (GitHub, GitLab).
    Sarif,
}

/// How `diff` prints its result (and `check`, but for SARIF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Unified diffs and lists, for people.
    Text,
    /// One JSON object, for other tools.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        // A reader that stopped early (`| head`) is no failure to report.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            // Exit status 1 means drift (check, diff) or a stack that does not fit (plan): any
            // other failure of those commands must not read as one.
            match cli.command {
                Some(Command::Check { .. } | Command::Diff { .. } | Command::Plan { .. }) => {
                    ExitCode::from(EXIT_INVALID)
                }
                _ => ExitCode::from(EXIT_IO),
            }
        }
    }
}

/// Whether an error is a write to a pipe whose reader has gone.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || e.downcast_ref::<serde_json::Error>()
                .and_then(|e| e.io_error_kind())
                .is_some_and(|k| k == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let Some(command) = &cli.command else {
        if cli.all_envs {
            return render_all(cli);
        }
        let Some(env) = &cli.env else {
            eprintln!("error: give `--env <ENV>` (or `--all-envs`) to render, or a command (see --help)");
            return Ok(ExitCode::from(EXIT_INVALID));
        };
        return render(cli, env);
    };
    match command {
        Command::Validate {
            env,
            all_envs,
            format,
            strict,
        } => {
            let envs = match environments(cli, env.as_deref(), *all_envs) {
                Ok(envs) => envs,
                Err(code) => return Ok(code),
            };
            validate(cli, &envs, *format, *strict)
        }
        Command::Explain { env } => {
            let files = match spec_files(cli, env) {
                Ok(f) => f,
                Err(report) => return Ok(invalid(cli, &report)),
            };
            let loaded = match files.resolve() {
                Ok(l) => l,
                Err(report) => return Ok(invalid(cli, &report)),
            };
            print_report(cli, &loaded.warnings)?;
            let names: Vec<&str> = files.sources().iter().map(|(_, f)| f.name.as_str()).collect();
            let tree = match loaded.effective() {
                Ok(tree) => tree,
                Err(report) => return Ok(invalid(cli, &report)),
            };
            let yaml = serde_yaml::to_string(&tree.to_json())?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "# Effective spec of `{env}`: {}", names.join(" + "))?;
            out.write_all(yaml.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            env,
            all_envs,
            against,
            format,
        } => {
            // Each environment with its folder: `DIR`, or `DIR/<env>` for every one.
            let targets: Vec<(String, PathBuf)> = match env {
                Some(env) if !*all_envs => vec![(env.clone(), against.clone())],
                _ => match environments(cli, None, true) {
                    Ok(envs) => envs
                        .into_iter()
                        .map(|e| {
                            let dir = against.join(&e);
                            (e, dir)
                        })
                        .collect(),
                    Err(code) => return Ok(code),
                },
            };
            let format = match format {
                CheckFormat::Sarif => return check::check_sarif(cli, &targets),
                CheckFormat::Json => Format::Json,
                CheckFormat::Text => Format::Text,
            };
            // The worst status of all: an invalid spec (2) before drift (1).
            let mut worst = 0;
            for (env, dir) in &targets {
                let code = check::check(cli, env, dir, format, *all_envs)?;
                worst = worst.max(exit_number(code));
            }
            Ok(ExitCode::from(worst))
        }
        Command::Diff { envs, format } => match envs.as_slice() {
            [a, b] => check::diff_envs(cli, a, b, *format),
            _ => {
                let message = format!(
                    "`diff` compares two environments: give `--env` exactly twice (got {})",
                    envs.len()
                );
                let kind = clap::error::ErrorKind::WrongNumberOfValues;
                let mut cmd = Cli::command();
                // Built, so the usage line names the subcommand (`vutler-render diff ...`).
                cmd.build();
                let err = match cmd.find_subcommand_mut("diff") {
                    Some(diff) => diff.error(kind, message),
                    None => cmd.error(kind, message),
                };
                err.print()?;
                Ok(ExitCode::from(EXIT_INVALID))
            }
        },
        Command::Plan { env } => plan::plan(cli, env),
        Command::Graph { env, format } => {
            let loaded = match load_spec(cli, env) {
                Ok(l) => l,
                Err(report) => return Ok(invalid(cli, &report)),
            };
            print_report(cli, &loaded.warnings)?;
            let text = match format {
                GraphFormat::Mermaid => vutler_render::graph::mermaid(&loaded.stack),
                GraphFormat::Dot => vutler_render::graph::dot(&loaded.stack),
            };
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema { stack } => {
            let text = if *stack {
                vutler_spec::schema::stack_schema_text()
            } else {
                vutler_spec::schema::json_schema_text()
            };
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            // Generated into a buffer: clap_complete panics when its writer fails (a closed pipe).
            let mut script = Vec::new();
            // `--env` completes to the environments of the spec folder (`--spec`, default
            // specs/), as they are when the script is generated.
            let mut cmd = Cli::command();
            if let Ok(envs) = vutler_spec::environments(&cli.spec) {
                // Leaked: the names live as long as this one-shot command (clap's `Str` is static
                // without its `string` feature).
                let names: Vec<&'static str> = envs.into_iter().map(|e| &*Box::leak(e.into_boxed_str())).collect();
                let values = clap::builder::PossibleValuesParser::new(names);
                cmd = cmd.mut_arg("env", |a| a.value_parser(values.clone()));
                let subcommands = [
                    ("validate", "env"),
                    ("explain", "env"),
                    ("check", "env"),
                    ("diff", "envs"),
                    ("plan", "env"),
                    ("graph", "env"),
                ];
                for (sub, arg) in subcommands {
                    let values = values.clone();
                    cmd = cmd.mut_subcommand(sub, |c| c.mut_arg(arg, |a| a.value_parser(values)));
                }
            }
            clap_complete::generate(*shell, &mut cmd, "vutler-render", &mut script);
            let mut out = std::io::stdout().lock();
            out.write_all(&script)?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { command, out } => {
            let pages = man_pages()?;
            if let Some(dir) = out {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
                for (name, page) in &pages {
                    let path = dir.join(name);
                    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
                    if verbosity(cli) != Verbosity::Quiet {
                        println!("wrote {}", path.display());
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            let wanted = match command {
                Some(c) => format!("vutler-render-{c}.1"),
                None => "vutler-render.1".to_owned(),
            };
            let Some((_, page)) = pages.iter().find(|(name, _)| *name == wanted) else {
                let commands: Vec<&str> = pages
                    .iter()
                    .filter_map(|(name, _)| name.strip_prefix("vutler-render-")?.strip_suffix(".1"))
                    .collect();
                eprintln!(
                    "error: `{}` is not a command of vutler-render; its pages are those of: {}",
                    command.as_deref().unwrap_or_default(),
                    commands.join(", ")
                );
                return Ok(ExitCode::from(EXIT_INVALID));
            };
            let mut out = std::io::stdout().lock();
            out.write_all(page)?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Every manual page, by file name: `vutler-render.1`, which lists the commands as
/// `vutler-render-<command>(1)`, and that page of each command. `help` has no page (the pages
/// are the help), so the first page does not list it.
fn man_pages() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    for page in std::iter::once(cmd.clone()).chain(cmd.get_subcommands().cloned()) {
        let man = clap_mangen::Man::new(page).source(concat!("vutler-render ", env!("CARGO_PKG_VERSION")));
        let mut text = Vec::new();
        man.render(&mut text)?;
        pages.push((man.get_filename(), text));
    }
    Ok(pages)
}

/// Renders one environment, to a folder or to stdout. Nothing is written unless all of it rendered.
fn render(cli: &Cli, env: &str) -> anyhow::Result<ExitCode> {
    let (_, tree) = match load_and_render(cli, env)? {
        Ok(done) => done,
        Err(code) => return Ok(code),
    };
    match &cli.out {
        Some(dir) => {
            if let Some(refused) = write_into(cli, dir, env, &tree)? {
                return Ok(refused);
            }
        }
        None => {
            let files = match shown(cli, env, &tree) {
                Ok(files) => files,
                Err(code) => return Ok(code),
            };
            let mut out = std::io::stdout().lock();
            // One file asked for by its path is printed as it is, to pipe into its program.
            if let ([one], [(path, contents)]) = (cli.show_only.as_slice(), files.as_slice())
                && one == path
            {
                out.write_all(contents.as_bytes())?;
                return Ok(ExitCode::SUCCESS);
            }
            for (i, (path, contents)) in files.iter().enumerate() {
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

/// The files of a tree to print: all of them, or those `--show-only` names (a file, or a folder
/// of the tree). A name that matches nothing is a usage error (exit 2), with the closest paths.
fn shown<'t>(cli: &Cli, env: &str, tree: &'t Rendered) -> Result<Vec<(&'t str, &'t str)>, ExitCode> {
    if let Some(wanted) = cli.show_only.iter().find(|w| matching(w, tree).next().is_none()) {
        return Err(no_such_path(wanted, env, tree));
    }
    Ok(selected(cli, tree))
}

/// The files `--show-only` names in each environment's tree. An environment without one is
/// left out (a Kubernetes tree has no crontab); a name that matches in none is a usage error.
fn shown_in_all<'t>(cli: &Cli, trees: &'t [(&str, Rendered)]) -> Result<Vec<(&'t str, &'t str, &'t str)>, ExitCode> {
    for wanted in &cli.show_only {
        if !trees.iter().any(|(_, tree)| matching(wanted, tree).next().is_some())
            && let Some((env, tree)) = trees.first()
        {
            return Err(no_such_path(wanted, env, tree));
        }
    }
    Ok(trees
        .iter()
        .flat_map(|(env, tree)| selected(cli, tree).into_iter().map(move |(p, c)| (*env, p, c)))
        .collect())
}

/// The files of the tree a `--show-only` name matches: the file itself, or a folder's.
fn matching<'t>(wanted: &str, tree: &'t Rendered) -> impl Iterator<Item = (&'t str, &'t str)> {
    let folder = format!("{}/", wanted.trim_end_matches('/'));
    let wanted = wanted.to_owned();
    tree.iter().filter(move |(p, _)| *p == wanted || p.starts_with(&folder))
}

/// Every file, or those `--show-only` names, in the order asked, each once.
fn selected<'t>(cli: &Cli, tree: &'t Rendered) -> Vec<(&'t str, &'t str)> {
    if cli.show_only.is_empty() {
        return tree.iter().collect();
    }
    let mut files = Vec::new();
    for file in cli.show_only.iter().flat_map(|w| matching(w, tree)) {
        if !files.contains(&file) {
            files.push(file);
        }
    }
    files
}

/// Says that a `--show-only` name is no path of the tree, with the closest ones.
fn no_such_path(wanted: &str, env: &str, tree: &Rendered) -> ExitCode {
    // Paths that end with what was given (`nginx.conf`), else those of its folder.
    let name = wanted.rsplit('/').next().unwrap_or(wanted);
    let mut near: Vec<&str> = tree
        .iter()
        .map(|(p, _)| p)
        .filter(|p| p.rsplit('/').next() == Some(name))
        .collect();
    if near.is_empty() {
        near = tree.iter().map(|(p, _)| p).collect();
    }
    match near.as_slice() {
        [one] => {
            eprintln!("error: `{wanted}` is neither a file nor a folder of the `{env}` tree; did you mean `{one}`?")
        }
        _ => eprintln!(
            "error: `{wanted}` is neither a file nor a folder of the `{env}` tree; its files are: {}",
            near.join(", ")
        ),
    }
    ExitCode::from(EXIT_INVALID)
}

/// The files of an environment of `--spec`. The folder is read once per process: every
/// environment a command loads (`--all-envs`, `diff`) shares its base files, parsed once.
fn spec_files(cli: &Cli, env: &str) -> Result<vutler_spec::SpecFiles, Report> {
    if !loads_several(cli) {
        // Nothing shares the parsed base files: the load moves them into its document rather
        // than keeping a copy for the rest of the process.
        return vutler_spec::read_dir(&cli.spec, env);
    }
    static FOLDER: std::sync::OnceLock<Result<vutler_spec::SpecFolder, Report>> = std::sync::OnceLock::new();
    match FOLDER.get_or_init(|| vutler_spec::SpecFolder::read(&cli.spec)) {
        Ok(folder) => folder.files(env),
        Err(report) => Err(report.clone()),
    }
}

/// Whether the command loads more than one environment (`--all-envs`, `diff`).
fn loads_several(cli: &Cli) -> bool {
    match &cli.command {
        None => cli.all_envs,
        Some(Command::Validate { all_envs, .. } | Command::Check { all_envs, .. }) => *all_envs,
        Some(Command::Diff { .. }) => true,
        Some(_) => false,
    }
}

/// Loads an environment of `--spec` (see [`spec_files`]).
fn load_spec(cli: &Cli, env: &str) -> Result<Loaded, Report> {
    spec_files(cli, env)?.resolve()
}

/// Loads and renders an environment. An invalid spec (or a spec the renderer refuses) has its
/// problems printed and gives `Ok(Err(exit code))`; `Err` is a failure of the tool.
fn load_and_render(cli: &Cli, env: &str) -> anyhow::Result<Result<(Stack, Rendered), ExitCode>> {
    // The document tree and the raw layer are not needed to render: they are freed first,
    // which the memory of a large stack's render shows.
    let Loaded { stack, warnings, .. } = match load_spec(cli, env) {
        Ok(l) => l,
        Err(report) => return Ok(Err(invalid(cli, &report))),
    };
    print_report(cli, &warnings)?;
    let tree = render_valid(env, &stack)?;
    Ok(Ok((stack, tree)))
}

/// Renders a stack that loaded. Validation accepts exactly what renders: a failure here is a
/// bug of the tool.
fn render_valid(env: &str, stack: &Stack) -> anyhow::Result<Rendered> {
    vutler_render::render(stack).map_err(|e| {
        anyhow::Error::new(e).context(format!("vutler-render failed on the valid spec of `{env}` (a bug)"))
    })
}

/// The environments a command runs on: the one given, or with `all` every one of the spec
/// folder. `Err` is the exit code of a folder that cannot be read (its problem printed).
fn environments(cli: &Cli, env: Option<&str>, all: bool) -> Result<Vec<String>, ExitCode> {
    match env {
        Some(env) if !all => Ok(vec![env.to_owned()]),
        _ => vutler_spec::environments(&cli.spec).map_err(|report| invalid(cli, &report)),
    }
}

/// The number of an exit code this tool returns (0 to 3).
fn exit_number(code: ExitCode) -> u8 {
    [EXIT_INVALID, EXIT_IO, EXIT_DIFFERENT]
        .into_iter()
        .find(|n| code == ExitCode::from(*n))
        .unwrap_or(0)
}

/// Writes a tree into `dir`; a refusal (a hand-written file in the way, `--out` naming a file)
/// is printed and gives its exit code, 2.
fn write_into(cli: &Cli, dir: &std::path::Path, env: &str, tree: &Rendered) -> anyhow::Result<Option<ExitCode>> {
    match write::write_tree(dir, env, tree, cli.overwrite, verbosity(cli)) {
        Ok(()) => Ok(None),
        Err(e) if e.downcast_ref::<write::Refused>().is_some() => {
            eprintln!("error: {e}");
            Ok(Some(ExitCode::from(EXIT_INVALID)))
        }
        Err(e) => Err(e),
    }
}

/// `vutler-render --all-envs`: every environment rendered in memory first, then (with `--out`)
/// each written into `DIR/<env>/`, or printed behind `# Source: <env>/<path>` banners.
fn render_all(cli: &Cli) -> anyhow::Result<ExitCode> {
    let envs = match environments(cli, None, true) {
        Ok(envs) => envs,
        Err(code) => return Ok(code),
    };
    // Every environment is rendered before anything is written, and each reports its problems.
    let mut trees = Vec::new();
    let mut failed = None;
    for env in &envs {
        match load_and_render(cli, env)? {
            Ok((_, tree)) => trees.push((env.as_str(), tree)),
            Err(code) => failed = Some(code),
        }
    }
    if let Some(code) = failed {
        eprintln!("nothing was written: an environment did not render");
        return Ok(code);
    }
    match &cli.out {
        Some(dir) => {
            for (env, tree) in &trees {
                if let Some(refused) = write_into(cli, &dir.join(env), env, tree)? {
                    return Ok(refused);
                }
            }
        }
        None => {
            let shown_files = match shown_in_all(cli, &trees) {
                Ok(files) => files,
                Err(code) => return Ok(code),
            };
            let mut out = std::io::stdout().lock();
            for (i, (env, path, contents)) in shown_files.into_iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                writeln!(out, "# Source: {env}/{path}")?;
                out.write_all(contents.as_bytes())?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `vutler-render validate`: every problem of each environment, as text, JSON (one object a
/// line for several environments) or SARIF (one run each); exit 2 when one has an error, or with
/// `strict` a warning.
fn validate(cli: &Cli, envs: &[String], format: DiagnosticsFormat, strict: bool) -> anyhow::Result<ExitCode> {
    if format == DiagnosticsFormat::Sarif {
        let mut runs = Vec::new();
        let mut failed = false;
        for env in envs {
            let (report, valid) = match load_spec(cli, env) {
                Ok(l) => (l.warnings, true),
                Err(report) => (report, false),
            };
            let warnings = report.diagnostics.iter().any(Diagnostic::is_open_warning);
            failed |= !valid || (strict && warnings);
            runs.push(report::spec_run("validate", env, &report));
        }
        check::print_json(&report::sarif_log(runs))?;
        return Ok(ExitCode::from(if failed { EXIT_INVALID } else { 0 }));
    }
    let mut worst = 0;
    for env in envs {
        let json = format == DiagnosticsFormat::Json;
        let code = validate_one(cli, env, json, strict, envs.len() > 1)?;
        worst = worst.max(exit_number(code));
    }
    Ok(ExitCode::from(worst))
}

/// One environment of `validate`, as text or JSON (`compact`: on one line).
fn validate_one(cli: &Cli, env: &str, json: bool, strict: bool, compact: bool) -> anyhow::Result<ExitCode> {
    let (report, loaded) = match load_spec(cli, env) {
        Ok(l) => (l.warnings.clone(), Some(l)),
        Err(report) => (report, None),
    };
    // Warnings the spec allows (with a reason) neither print nor fail a strict run.
    let warnings = report.diagnostics.iter().filter(|d| d.is_open_warning()).count();
    let allowed = report.diagnostics.iter().filter(|d| d.allowed.is_some()).count();
    let failed = loaded.is_none() || (strict && warnings > 0);
    let code = if failed {
        ExitCode::from(EXIT_INVALID)
    } else {
        ExitCode::SUCCESS
    };
    if json {
        let json = report::validate_json(env, &report.sources, &report.diagnostics, strict);
        check::print_json_as(&json, compact)?;
        return Ok(code);
    }
    let Some(loaded) = loaded else {
        return Ok(invalid(cli, &report));
    };
    print_report(cli, &report)?;
    let mut counted = match warnings {
        0 => String::new(),
        1 => ", 1 warning".to_owned(),
        n => format!(", {n} warnings"),
    };
    if allowed > 0 {
        counted.push_str(&format!(", {allowed} allowed"));
    }
    if failed {
        eprintln!(
            "{env}: invalid with --strict ({warnings} warning{})",
            if warnings == 1 { "" } else { "s" }
        );
        return Ok(code);
    }
    if verbosity(cli) != Verbosity::Quiet {
        let stack = &loaded.stack;
        let on = match stack.kubernetes() {
            // Every service the cluster runs is a workload.
            Some(k) => format!(
                "{} workloads on Kubernetes {}, namespace `{}`",
                stack.services().iter().filter(|s| k.deploys(s.id)).count(),
                k.version(),
                k.namespace
            ),
            None => format!("{} services on VM `{}`", stack.services().len(), stack.vm().name),
        };
        println!("{env}: valid ({on}{counted})");
    }
    Ok(code)
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
    if errors == 0 {
        // Every refusal names its rule; one without is a bug of the tool, not of the spec.
        eprintln!("error: the spec was refused without a reason: this is a bug in vutler-render");
    } else {
        eprintln!("{errors} error{} found", if errors == 1 { "" } else { "s" });
    }
    ExitCode::from(EXIT_INVALID)
}

/// Whether to colour what goes to a stream: only on a terminal, and never with `--no-color` or
/// `NO_COLOR` set.
fn color_choice(cli: &Cli, is_terminal: bool) -> termcolor::ColorChoice {
    match (cli.no_color, cli.color) {
        (true, _) | (_, ColorWhen::Never) => termcolor::ColorChoice::Never,
        // A flag given on purpose wins over NO_COLOR (no-color.org).
        (_, ColorWhen::Always) => termcolor::ColorChoice::Always,
        (_, ColorWhen::Auto) if std::env::var_os("NO_COLOR").is_some() || !is_terminal => termcolor::ColorChoice::Never,
        (_, ColorWhen::Auto) => termcolor::ColorChoice::Auto,
    }
}

/// How much `--out` and the commands say about what went well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verbosity {
    /// Problems only.
    Quiet,
    /// Each file written or removed, and a summary.
    Normal,
    /// Each unchanged file too.
    Verbose,
}

fn verbosity(cli: &Cli) -> Verbosity {
    if cli.quiet {
        Verbosity::Quiet
    } else if cli.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    }
}

/// Prints diagnostics to stderr with source excerpts, coloured only on a terminal.
fn print_report(cli: &Cli, report: &Report) -> anyhow::Result<()> {
    let mut files = SimpleFiles::new();
    let ids: Vec<usize> = report
        .sources
        .iter()
        .map(|(_, f)| files.add(f.name.clone(), f.text.clone()))
        .collect();
    // Buffered: a report of many diagnostics is written in a few large writes.
    let mut stream = termcolor::BufferedStandardStream::stderr(color_choice(cli, std::io::stderr().is_terminal()));
    let config = term::Config::default();
    for d in report
        .diagnostics
        .iter()
        .filter(|d| d.allowed.is_none())
        .take(MAX_SHOWN)
    {
        let severity = match d.severity {
            Severity::Error => PrettySeverity::Error,
            Severity::Warning => PrettySeverity::Warning,
        };
        let message = if d.path.is_empty() {
            d.message.clone()
        } else {
            format!("{}: {}", d.path, d.message)
        };
        let message = shorten(&message, MAX_MESSAGE);
        let mut pretty = Pretty::new(severity).with_code(d.rule.id()).with_message(message);
        let mut labels = Vec::new();
        let mut notes = Vec::new();
        match d.span {
            // The line may hold the secret itself: say where it is without printing it.
            Some(span) if d.rule.hides_source() => notes.push(format!(
                "at {} (the line is not shown: it may hold a secret)",
                report.sources.describe(span)
            )),
            Some(span) => match long_line(report, span) {
                None => labels.push(Label::primary(ids[span.file.index()], span.range())),
                Some(note) => notes.push(note),
            },
            None => {}
        }
        for (span, label) in &d.related {
            match long_line(report, *span) {
                None => labels.push(Label::secondary(ids[span.file.index()], span.range()).with_message(label.clone())),
                Some(note) => notes.push(format!("{label}: {note}")),
            }
        }
        pretty = pretty.with_labels(labels);
        if let Some(help) = &d.help {
            notes.push(format!("help: {help}"));
        }
        pretty = pretty.with_notes(notes);
        term::emit_to_write_style(&mut stream, &config, &files, &pretty)?;
    }
    let hidden = report.diagnostics.len().saturating_sub(MAX_SHOWN);
    if hidden > 0 {
        use std::io::Write;
        writeln!(
            stream,
            "... and {hidden} more diagnostic{} not shown: fix the ones above first",
            if hidden == 1 { "" } else { "s" }
        )?;
    }
    std::io::Write::flush(&mut stream)?;
    Ok(())
}

/// Diagnostics printed at most: a broken file can produce thousands, and the first ones are
/// the ones to fix (the count of the others is printed).
const MAX_SHOWN: usize = 50;
/// Characters of a message printed at most (a message may quote a huge value).
const MAX_MESSAGE: usize = 500;
/// Characters of a line shown as an excerpt at most; a longer line is quoted around the column.
const MAX_LINE: usize = 300;

/// At most `max` characters of a text, with how much was cut.
fn shorten(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max).collect();
    format!("{kept}... ({} more characters)", count - max)
}

/// For a span on a line too long to print as an excerpt: where it is and the text around it.
fn long_line(report: &Report, span: vutler_spec::Span) -> Option<String> {
    let text = report.sources.get(span.file).text.as_str();
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = &text[line_start..line_end];
    let length = line.chars().count();
    if length <= MAX_LINE {
        return None;
    }
    let column = text[line_start..start].chars().count();
    let before: String = line
        .chars()
        .skip(column.saturating_sub(40))
        .take(column.min(40))
        .collect();
    let after: String = line.chars().skip(column).take(40).collect();
    let near = format!("{before}{after}").escape_debug().to_string();
    Some(format!(
        "at {} (the line has {length} characters; near: `...{near}...`)",
        report.sources.describe(span)
    ))
}
