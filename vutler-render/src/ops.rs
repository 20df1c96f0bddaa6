//! The operations scripts (seed 4.2, 4.3, 6 and 9.1) and the backup crontab.
//!
//! `scripts/backup.sh` and `scripts/restore.sh` have one step per backup job of the model,
//! `scripts/healthcheck.sh` one check per service and healthcheck, `scripts/update.sh` and
//! `scripts/rollback.sh` act on the app behind the proxy through its `tag_variable`, and
//! `cron/<project>` schedules the jobs. Dumps run inside each service's container with the
//! credentials the container already has (its environment or its Docker secret files), so no
//! script carries a secret. Every spec value reaching a script follows a grammar of the model and
//! is shell-quoted on top (the `sh` filter and `shell_quote`).

use serde::Serialize;
use vutler_spec::Stack;
use vutler_spec::stack::{BACKUP_METRIC, BackupJob, CertificateSource, Dump, EnvValue, HealthTest, Service};

use crate::compose::reads_secret_file;
use crate::templates::{self, shell_quote};
use crate::{RenderError, Rendered, endpoint, header};

/// Path of the backup script in the rendered tree.
pub const BACKUP_SCRIPT: &str = "scripts/backup.sh";
/// Path of the restore script.
pub const RESTORE_SCRIPT: &str = "scripts/restore.sh";
/// Path of the health-check script.
pub const HEALTHCHECK_SCRIPT: &str = "scripts/healthcheck.sh";
/// Path of the update script.
pub const UPDATE_SCRIPT: &str = "scripts/update.sh";
/// Path of the rollback script.
pub const ROLLBACK_SCRIPT: &str = "scripts/rollback.sh";

/// Path of the crontab (a file for `/etc/cron.d/`, named after the project).
pub fn cron_path(stack: &Stack) -> String {
    format!("cron/{}", stack.project)
}

#[derive(Debug, Serialize)]
struct BackupCtx {
    header: String,
    env: String,
    local_dir: String,
    destination: String,
    textfile_dir: Option<String>,
    metric: &'static str,
    credentials: Option<CredentialsCtx>,
    jobs: Vec<JobCtx>,
}

#[derive(Debug, Serialize)]
struct CredentialsCtx {
    access_key_id: String,
    secret_access_key: String,
}

#[derive(Debug, Serialize)]
struct JobCtx {
    name: String,
    service: String,
    /// `gzip` (plain output, compressed on the host), `stream` (compressed by the tool) or
    /// `mirror` (files copied into a staging folder, archived on the host).
    mode: &'static str,
    /// Shell script run in the service's container (or a one-off container of it) to dump.
    dump: String,
    /// Shell script run there to load a dump back.
    restore: String,
    ext: &'static str,
    retention_days: u64,
    schedule: String,
    summary: String,
    usage_line: String,
    /// Services stopped while the job is restored: those that depend on its service.
    dependents: Vec<String>,
}

#[derive(Debug, Serialize)]
struct HealthCtx {
    header: String,
    env: String,
    services: Vec<ServiceCheckCtx>,
    containers: String,
    url: Option<String>,
    insecure: bool,
    disk_usage_max: u8,
    local_dir: String,
}

#[derive(Debug, Serialize)]
struct ServiceCheckCtx {
    name: String,
    what: String,
    min: u32,
    max: u32,
    /// The healthcheck's command, shell-quoted, to run with `docker compose exec`.
    healthcheck: Option<String>,
}

#[derive(Debug, Serialize)]
struct DeployCtx {
    header: String,
    env: String,
    app: String,
    image_repo: String,
    tag_variable: String,
    default_version: String,
    /// Database jobs backed up before migrating.
    backup_jobs: Vec<String>,
    /// The migration command, shell-quoted.
    migrate: Option<String>,
    migrate_display: String,
    url: Option<String>,
    insecure: bool,
    app_healthcheck: bool,
    verify_what: String,
}

#[derive(Debug, Serialize)]
struct CronCtx {
    header: String,
    env: String,
    file_name: String,
    install_dir: String,
    log_file: String,
    jobs: Vec<JobCtx>,
}

/// How a script running in a service's container reads one of the service's environment
/// variables: the variable itself, or the Docker secret file its `*_FILE` twin points to.
fn container_value(stack: &Stack, service: &str, variable: &str) -> Result<String, RenderError> {
    let value = stack
        .services
        .get(service)
        .and_then(|s| s.environment.get(variable))
        .ok_or_else(|| {
            RenderError::Invariant(format!(
                "service `{service}` has no variable `{variable}` in its environment"
            ))
        })?;
    Ok(match value {
        EnvValue::Secret {
            file_env: Some(file), ..
        } if reads_secret_file(stack, value) => {
            format!("\"$(cat \"${file}\")\"")
        }
        _ => format!("\"${variable}\""),
    })
}

fn job_ctx(stack: &Stack, name: &str, job: &BackupJob) -> Result<JobCtx, RenderError> {
    let var = |variable: &str| container_value(stack, &job.service, variable);
    let (mode, dump, restore, ext, summary) = match &job.dump {
        Dump::PgDump { database, user_env } => {
            let (user, db) = (var(user_env)?, shell_quote(database));
            (
                "gzip",
                format!("exec pg_dump --username={user} --dbname={db} --clean --if-exists --no-owner"),
                // One transaction: a restore that fails leaves the database as it was.
                format!("exec psql --username={user} --dbname={db} --set=ON_ERROR_STOP=1 --single-transaction --quiet"),
                "sql.gz",
                format!("pg_dump of database {database} (service {})", job.service),
            )
        }
        Dump::Mongodump {
            database,
            user_env,
            password_env,
        } => {
            let auth = format!(
                "--authenticationDatabase=admin --username={} --password={}",
                var(user_env)?,
                var(password_env)?
            );
            let (only_dump, only_restore, what) = match database {
                Some(db) => (
                    format!(" --db={}", shell_quote(db)),
                    format!(" --nsInclude={}", shell_quote(&format!("{db}.*"))),
                    format!("database {db}"),
                ),
                None => (String::new(), String::new(), "every database".to_owned()),
            };
            (
                "stream",
                format!("exec mongodump --archive --gzip {auth}{only_dump}"),
                format!("exec mongorestore --archive --gzip --drop {auth}{only_restore}"),
                "archive.gz",
                format!("mongodump of {what} (service {})", job.service),
            )
        }
        Dump::MinioMirror {
            user_env,
            password_env,
            port,
        } => {
            let url = shell_quote(&format!("http://{}", endpoint(stack, &job.service, port)?));
            let alias = format!(
                "mc alias set backup-source {url} {} {} >/dev/null",
                var(user_env)?,
                var(password_env)?
            );
            (
                "mirror",
                format!("{alias} && exec mc mirror --quiet backup-source /backup-out"),
                format!("{alias} && exec mc mirror --quiet --overwrite /backup-in backup-source"),
                "tar.gz",
                format!("mc mirror of every bucket (service {})", job.service),
            )
        }
    };
    let dependents = stack
        .services
        .iter()
        .filter(|(_, s)| s.depends_on.iter().any(|d| d.service == job.service))
        .map(|(n, _)| n.clone())
        .collect();
    Ok(JobCtx {
        name: name.to_owned(),
        service: job.service.clone(),
        mode,
        dump,
        restore,
        ext,
        retention_days: job.retention.whole_days().unwrap_or(1).max(1),
        schedule: job.schedule.to_string(),
        usage_line: format!("{name:<12} {summary}"),
        summary,
        dependents,
    })
}

fn jobs(stack: &Stack) -> Result<Vec<JobCtx>, RenderError> {
    stack
        .backups
        .jobs
        .iter()
        .map(|(name, job)| job_ctx(stack, name, job))
        .collect()
}

/// The public URL answering with the running version, and whether its certificate is
/// self-signed (then curl does not verify it).
fn verify_url(stack: &Stack) -> (Option<String>, bool) {
    let url = stack
        .operations
        .verify_path
        .as_ref()
        .map(|p| format!("https://{}{p}", stack.domain));
    (url, stack.tls.certificate.source == CertificateSource::SelfSigned)
}

fn healthcheck_words(s: &Service) -> Option<String> {
    let words: Vec<String> = match &s.healthcheck.as_ref()?.test {
        HealthTest::Exec(args) => args.clone(),
        HealthTest::Shell(cmd) => vec!["sh".into(), "-c".into(), cmd.clone()],
    };
    Some(words.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" "))
}

fn count(min: u32, max: u32) -> String {
    let noun = if max == 1 { "container" } else { "containers" };
    if min == max {
        format!("{min} {noun}")
    } else {
        format!("{min} to {max} {noun}")
    }
}

fn health_ctx(stack: &Stack) -> HealthCtx {
    let (url, insecure) = verify_url(stack);
    let (mut min_total, mut max_total) = (0, 0);
    let services = stack
        .services
        .iter()
        .map(|(name, s)| {
            let min = s.replicas;
            let max = stack.scaling.get(name).map_or(min, |p| p.replicas.max(min));
            min_total += min;
            max_total += max;
            ServiceCheckCtx {
                name: name.clone(),
                what: format!("{name} runs {}", count(min, max)),
                min,
                max,
                healthcheck: healthcheck_words(s),
            }
        })
        .collect();
    HealthCtx {
        header: header(stack).trim_end().to_owned(),
        env: stack.env.clone(),
        services,
        containers: count(min_total, max_total),
        url,
        insecure,
        disk_usage_max: stack.operations.disk_usage_max,
        local_dir: stack.backups.local_dir.clone(),
    }
}

fn deploy_ctx(stack: &Stack) -> Result<DeployCtx, RenderError> {
    let app = &stack.edge.upstream;
    let service = stack
        .services
        .get(app)
        .ok_or_else(|| RenderError::Invariant(format!("the upstream `{app}` is not a service")))?;
    let tag_variable = service
        .tag_variable
        .clone()
        .ok_or_else(|| RenderError::Invariant(format!("the app `{app}` has no tag_variable")))?;
    let (url, insecure) = verify_url(stack);
    let migrate = stack.operations.migrate.as_ref();
    let verify_what = match &url {
        Some(url) => format!("{url} answers with that version"),
        None if service.healthcheck.is_some() => format!("every {app} container is healthy"),
        None => format!("{app} runs"),
    };
    Ok(DeployCtx {
        header: header(stack).trim_end().to_owned(),
        env: stack.env.clone(),
        app: app.clone(),
        image_repo: service.image.repo.clone(),
        tag_variable,
        default_version: service.image.tag.clone(),
        backup_jobs: stack
            .backups
            .jobs
            .iter()
            .filter(|(_, j)| matches!(j.dump, Dump::PgDump { .. } | Dump::Mongodump { .. }))
            .map(|(n, _)| n.clone())
            .collect(),
        migrate: migrate.map(|args| args.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")),
        migrate_display: migrate.map(|args| args.join(" ")).unwrap_or_default(),
        url,
        insecure,
        app_healthcheck: service.healthcheck.is_some(),
        verify_what,
    })
}

/// Adds the operations scripts and the crontab to the tree.
pub fn render(stack: &Stack, tree: &mut Rendered) -> Result<(), RenderError> {
    let head = header(stack).trim_end().to_owned();
    let b = &stack.backups;
    let backup = BackupCtx {
        header: head.clone(),
        env: stack.env.clone(),
        local_dir: b.local_dir.clone(),
        destination: b.destination.clone(),
        textfile_dir: b.textfile_dir.clone(),
        metric: BACKUP_METRIC,
        credentials: b.credentials.as_ref().map(|c| CredentialsCtx {
            access_key_id: c.access_key_id.clone(),
            secret_access_key: c.secret_access_key.clone(),
        }),
        jobs: jobs(stack)?,
    };
    tree.insert(BACKUP_SCRIPT, templates::render(templates::BACKUP_SCRIPT, &backup)?)?;
    tree.insert(RESTORE_SCRIPT, templates::render(templates::RESTORE_SCRIPT, &backup)?)?;
    tree.insert(
        HEALTHCHECK_SCRIPT,
        templates::render(templates::HEALTHCHECK_SCRIPT, &health_ctx(stack))?,
    )?;
    let deploy = deploy_ctx(stack)?;
    tree.insert(UPDATE_SCRIPT, templates::render(templates::UPDATE_SCRIPT, &deploy)?)?;
    tree.insert(ROLLBACK_SCRIPT, templates::render(templates::ROLLBACK_SCRIPT, &deploy)?)?;
    let cron = CronCtx {
        header: head,
        env: stack.env.clone(),
        file_name: stack.project.clone(),
        install_dir: stack.operations.install_dir.clone(),
        log_file: format!("{}/{}-backup.log", stack.operations.log_dir, stack.project),
        jobs: backup.jobs,
    };
    tree.insert(cron_path(stack), templates::render(templates::CRON, &cron)?)?;
    Ok(())
}
