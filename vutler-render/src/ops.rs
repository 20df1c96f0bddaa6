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
use vutler_spec::stack::{BackupJob, Backups, Dump, EnvRef, HealthTest, Issuer, ScriptMetric, Service};

use crate::runtime::{InContainer, Runtime};
use crate::templates::{self, shell_quote};
use crate::{RenderError, Rendered, compose_files, header};

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
/// Path of the certificate script.
pub const CERTIFICATES_SCRIPT: &str = "scripts/certificates.sh";
/// Path of the scale script.
pub const SCALE_SCRIPT: &str = "scripts/scale.sh";

/// Path of the crontab (a file for `/etc/cron.d/`, named after the project).
pub fn cron_path(stack: &Stack) -> String {
    format!("cron/{}", stack.project())
}

#[derive(Debug, Serialize)]
struct BackupCtx {
    header: String,
    env: String,
    compose_file: String,
    local_dir: String,
    destination: String,
    textfile_dir: Option<String>,
    metric: String,
    drill_metric: String,
    wal_metric: String,
    credentials: Option<CredentialsCtx>,
    /// Options of every `aws` call (endpoint, region), shell-quoted.
    aws_options: String,
    /// Options of uploads (storage class, encryption), shell-quoted.
    upload_options: String,
    bucket: String,
    /// Key prefix of the destination, with its trailing slash (or empty).
    prefix: String,
    /// Whether a job archives WAL (`backup.sh --wal`, `restore.sh --to`).
    any_wal: bool,
    /// Whether a job mirrors files (restored from a staged archive).
    any_mirror: bool,
    /// Whether a job writes a mongodump archive (checked by its magic number).
    any_stream: bool,
    /// Whether a job's restore drill unpacks an archive without its program (`verify` unset).
    any_unpacked_drill: bool,
    jobs: Vec<JobCtx>,
}

/// The options of every `aws` call (endpoint, region) and of uploads (storage class,
/// encryption), shell-quoted.
pub(crate) fn s3_options(b: &Backups) -> (String, String) {
    let o = &b.s3;
    let mut aws = Vec::new();
    if let Some(endpoint) = &o.endpoint {
        aws.extend(["--endpoint-url".to_owned(), shell_quote(endpoint)]);
    }
    if let Some(region) = &o.region {
        aws.extend(["--region".to_owned(), shell_quote(region)]);
    }
    let mut upload = Vec::new();
    if let Some(class) = o.storage_class {
        upload.extend(["--storage-class".to_owned(), class.as_str().to_owned()]);
    }
    if let Some((sse, key)) = &o.encryption {
        upload.extend(["--sse".to_owned(), shell_quote(sse.as_str())]);
        if let Some(key) = key {
            upload.extend(["--sse-kms-key-id".to_owned(), shell_quote(key)]);
        }
    }
    (aws.join(" "), upload.join(" "))
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
    /// The service's image, as a shell word (restore drills run a throwaway container of it).
    image: String,
    /// `custom` (pg_dump's compressed custom format, listed by pg_restore), `stream` (a gzip
    /// archive written by the tool), `mirror` (files copied into a staging folder, archived
    /// on the host) or `files` (a tar of a volume's files, written in the container).
    mode: &'static str,
    /// Shell script run in the service's container (or a one-off container of it) to dump.
    dump: String,
    /// Shell script run there to load a dump back.
    restore: String,
    /// Shell script run in a throwaway container of the image, the backup on its standard
    /// input, that restores it into a scratch server and prints what it holds (`mirror`: none,
    /// the archive is unpacked on the host).
    verify: Option<String>,
    /// The user of the image that runs `verify` (PostgreSQL's refuse root), or its default.
    verify_user: Option<&'static str>,
    ext: &'static str,
    local_days: u64,
    remote_days: u64,
    /// PostgreSQL's WAL archiving, when the job has an RPO.
    wal: Option<WalCtx>,
    schedule: String,
    summary: String,
    usage_line: String,
    /// Services stopped while the job is restored: those that depend on its service (and for
    /// `files` the service itself, first).
    dependents: Vec<String>,
}

#[derive(Debug, Serialize)]
struct WalCtx {
    /// The archive folder, in the container.
    dir: String,
    /// PGDATA, in the container.
    pgdata: String,
    rpo: String,
    /// Shell script taking a base backup (a gzipped tar on standard output), in the container.
    base: String,
    /// Shell script, run as root in a one-off container of the service, that puts the staged
    /// base backup in place of the data folder (kept aside) and sets it to recover to `$1`.
    recover: String,
}

/// Puts a base backup (`/tmp/restore-in/base.tar.gz`) in place of PGDATA, which is kept aside as
/// `PGDATA.before-$2`, with the staged WAL (`/tmp/restore-in/wal/`) where the server's
/// `restore_command` reads it (else from the archive itself), to recover up to `$1` and promote.
fn recover_script(pgdata: &str, dir: &str) -> String {
    format!(
        "set -eu; to=$1; stamp=$2; \
         if [ -d {pgdata} ]; then mv {pgdata} {pgdata}.before-$stamp; fi; \
         mkdir -p {pgdata}; tar -xzf /tmp/restore-in/base.tar.gz -C {pgdata}; mkdir -p {pgdata}/pg_wal; \
         rm -rf {dir}/restore; mkdir -p {dir}/restore; \
         for f in /tmp/restore-in/wal/*.gz; do if [ -f \"$f\" ]; then cp \"$f\" {dir}/restore/; fi; done; \
         touch {pgdata}/recovery.signal; \
         printf '%s\\n' \"restore_command = 'gzip -dc {dir}/restore/%f.gz > %p 2>/dev/null || gzip -dc {dir}/%f.gz > %p'\" \
         \"recovery_target_time = '$to'\" \"recovery_target_action = 'promote'\" >> {pgdata}/postgresql.auto.conf; \
         chown -R postgres:postgres {pgdata} {dir}; chmod 700 {pgdata}"
    )
}

#[derive(Debug, Serialize)]
struct HealthCtx {
    header: String,
    env: String,
    compose_file: String,
    services: Vec<ServiceCheckCtx>,
    containers: String,
    url: Option<String>,
    insecure: bool,
    disk_usage_max: u8,
    /// The folder whose disk is checked: the backups' (the dumps fill it), else the
    /// deployment's.
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
pub(crate) struct DeployCtx {
    header: String,
    env: String,
    compose_file: String,
    app: String,
    proxy: String,
    image_repo: String,
    /// The app's tag variable, when it has one.
    tag_variable: Option<String>,
    /// `env "TAG=$version" ` before a `docker compose` command that starts the app, or nothing
    /// when the app's version is the spec's image tag.
    version_env: String,
    /// The other services whose image follows the same tag variable (workers of the app's
    /// image): recreated with the new version once the app runs it.
    followers: Vec<String>,
    /// Whether the new version starts beside the old (no published host port, no fixed name).
    rolling: bool,
    /// Why not, when it does not.
    not_rolling: String,
    /// Containers to start when none runs.
    replicas: u32,
    /// Database jobs backed up before migrating.
    backup_jobs: Vec<String>,
    /// The migration command, shell-quoted.
    migrate: Option<String>,
    migrate_display: Option<String>,
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
    /// When the restore drills run, and their log file.
    drill_schedule: Option<String>,
    drill_log: String,
    wal_log: String,
    /// When certificates.sh renews, and its log file.
    renew_schedule: String,
    certificates_log: String,
}

#[derive(Debug, Serialize)]
struct CertificatesCtx {
    header: String,
    env: String,
    compose_file: String,
    domain: String,
    /// The chain and key on the host, as NGINX's bind mount finds them.
    cert_path: String,
    key_path: String,
    textfile_dir: Option<String>,
    metric: String,
    proxy: String,
    acme_root: String,
    acme: Option<AcmeCtx>,
}

#[derive(Debug, Serialize)]
struct AcmeCtx {
    image: String,
    email_variable: String,
    state_dir: String,
    webroot: String,
}

fn certificates_ctx(stack: &Stack) -> CertificatesCtx {
    let c = &stack.tls().certificate;
    let host = |file: &str| format!("{}/{file}", c.host_dir.trim_end_matches('/'));
    CertificatesCtx {
        header: header(stack).trim_end().to_owned(),
        env: stack.env().to_string(),
        compose_file: compose_files(stack).join(":"),
        domain: stack.domain().to_string(),
        cert_path: host(&c.cert_file),
        key_path: host(&c.key_file),
        textfile_dir: stack.textfile_dir().map(ToString::to_string),
        metric: stack.metric(ScriptMetric::TlsExpiry),
        proxy: stack.service(stack.edge().proxy).name.to_string(),
        acme_root: stack.edge().acme_root.to_string(),
        acme: match &c.issuer {
            Issuer::Letsencrypt(a) => Some(AcmeCtx {
                image: a.image.to_string(),
                email_variable: stack.variable(a.email).name.to_string(),
                state_dir: a.state_dir.to_string(),
                webroot: a.webroot.to_string(),
            }),
            Issuer::SelfSigned => None,
        },
    }
}

/// How a script running in a service's container reads one of the service's environment
/// variables, as a quoted shell word: the variable itself, or the Docker secret file its
/// `*_FILE` twin points to.
pub(crate) fn container_value(runtime: &Runtime<'_>, var: EnvRef) -> String {
    match runtime.in_container(var) {
        InContainer::File(file) => format!("\"$(cat \"${file}\")\""),
        InContainer::Variable(name) => format!("\"${name}\""),
    }
}

/// Reads a password into the shell variable `pw` of a script running in the container, through
/// the shell's own expansions: the value never becomes an argument of a command.
pub(crate) fn read_password(runtime: &Runtime<'_>, var: EnvRef) -> String {
    format!("pw={}", container_value(runtime, var))
}

/// Writes the password in `$pw` into a mongo tools' `--config` file (YAML, single-quoted) that
/// only the container's user reads, removed when the script ends; `printf` is the shell's own.
pub(crate) const MONGO_CONFIG: &str = "umask 077; cfg=$(mktemp); trap 'rm -f \"$cfg\"' EXIT; \
printf \"password: '%s'\\n\" \"$(printf '%s' \"$pw\" | sed \"s/'/''/g\")\" >\"$cfg\"";

/// Percent-encodes `$1` with the shell's own builtins (for the credentials of `MC_HOST_*`).
pub(crate) const PERCENT_ENCODE: &str = "enc() { s=$1; out=; while [ -n \"$s\" ]; do r=${s#?}; c=${s%\"$r\"}; s=$r; \
out=\"$out$(printf '%%%02X' \"'$c\")\"; done; printf '%s' \"$out\"; }";

/// Restores a custom-format dump read on standard input into a throwaway server in a container
/// of the image (no network, no volume) and prints what it holds: the live service is never
/// touched. Runs as the image's `postgres` user.
const PG_VERIFY: &str = "set -eu; export PGDATA=/tmp/verify-data PGHOST=/tmp PGUSER=verify; \
initdb --username=verify --auth=trust >/dev/null; \
pg_ctl --wait --silent --log=/tmp/verify.log --options=\"-c listen_addresses= -k /tmp\" start; \
createdb verify; \
pg_restore --dbname=verify --no-owner --no-privileges --exit-on-error; \
psql --dbname=verify -AtX -v ON_ERROR_STOP=1 -c \"SELECT count(*) || ' tables, ' || coalesce(sum((xpath('/row/c/text()', \
query_to_xml(format('SELECT count(*) AS c FROM %I.%I', schemaname, relname), false, true, '')))[1]::text::bigint), 0) \
|| ' rows' FROM pg_stat_user_tables\"; \
pg_ctl --wait --silent --mode=fast stop";

/// The same for a mongodump archive: a throwaway mongod in a container of the image.
const MONGO_VERIFY: &str = "set -eu; dir=$(mktemp -d); \
mongod --dbpath \"$dir\" --bind_ip 127.0.0.1 --port 27099 --fork --logpath \"$dir/mongod.log\" >/dev/null; \
mongorestore --host=127.0.0.1 --port=27099 --archive --gzip --quiet; \
mongosh --quiet --port 27099 --eval 'let n = 0, docs = 0; \
db.adminCommand({ listDatabases: 1 }).databases.filter(d => ![\"admin\", \"local\", \"config\"].includes(d.name)) \
.forEach(d => { const x = db.getSiblingDB(d.name); x.getCollectionNames().forEach(c => { n++; docs += x.getCollection(c).countDocuments({}); }); }); \
print(n + \" collections, \" + docs + \" documents\")'; \
mongod --dbpath \"$dir\" --shutdown >/dev/null";

fn job_ctx(runtime: &Runtime<'_>, job: &BackupJob) -> JobCtx {
    let stack = runtime.stack();
    let var = |v: EnvRef| container_value(runtime, v);
    let service = stack.service(job.service);
    let image = match runtime.container(job.service).image.tag_variable {
        Some(v) => format!("\"{}:$(env_get {})\"", service.image.repo(), v.name),
        None => shell_quote(&service.image.to_string()),
    };
    let service = &service.name;
    let (mode, dump, restore, verify, verify_user, summary, wal) = match &job.dump {
        Dump::PgDump {
            database, user, wal, ..
        } => {
            let (user, db) = (var(*user), shell_quote(database));
            (
                // Custom format: compressed by pg_dump, listed by pg_restore --list.
                "custom",
                format!("exec pg_dump --username={user} --dbname={db} --format=custom --no-owner"),
                // One transaction: a restore that fails leaves the database as it was.
                format!(
                    "exec pg_restore --username={user} --dbname={db} --clean --if-exists --no-owner \
                     --single-transaction --exit-on-error"
                ),
                Some(PG_VERIFY.to_owned()),
                // PostgreSQL refuses to run as root.
                Some("postgres"),
                format!("pg_dump of database {database} (service {service})"),
                wal.as_ref().map(|w| WalCtx {
                    dir: w.dir.to_string(),
                    pgdata: w.pgdata.to_string(),
                    rpo: w.rpo.to_string(),
                    // The WAL the base backup needs is in the archive (pg_basebackup waits for it).
                    base: format!(
                        "exec pg_basebackup --username={user} --pgdata=- --format=tar --wal-method=none --gzip --checkpoint=fast"
                    ),
                    recover: recover_script(&w.pgdata, &w.dir),
                }),
            )
        }
        Dump::Mongodump {
            database,
            user,
            password,
        } => {
            let auth = format!(
                "--config=\"$cfg\" --authenticationDatabase=admin --username={}",
                var(*user)
            );
            let (only_dump, only_restore, what) = match database {
                Some(db) => (
                    format!(" --db={}", shell_quote(db)),
                    format!(" --nsInclude={}", shell_quote(&format!("{db}.*"))),
                    format!("database {db}"),
                ),
                None => (String::new(), String::new(), "every database".to_owned()),
            };
            let pw = read_password(runtime, *password);
            (
                "stream",
                format!("{pw}; {MONGO_CONFIG}; mongodump {auth} --archive --gzip{only_dump}"),
                format!("{pw}; {MONGO_CONFIG}; mongorestore {auth} --archive --gzip --drop{only_restore}"),
                Some(MONGO_VERIFY.to_owned()),
                None,
                format!("mongodump of {what} (service {service})"),
                None,
            )
        }
        Dump::MinioMirror { user, password, api } => {
            let endpoint = stack.endpoint(*api);
            // mc reads the alias from the environment; the credentials never are arguments.
            let alias = format!(
                "{PERCENT_ENCODE}; user={}; {}; export MC_HOST_backupsrc=\"http://$(enc \"$user\"):$(enc \"$pw\")@{}:{}\"",
                var(*user),
                read_password(runtime, *password),
                endpoint.host,
                endpoint.port
            );
            (
                "mirror",
                format!("{alias}; exec mc mirror --quiet backupsrc /backup-out"),
                format!("{alias}; exec mc mirror --quiet --overwrite /backup-in backupsrc"),
                None,
                None,
                format!("mc mirror of every bucket (service {service})"),
                None,
            )
        }
        Dump::VolumeArchive { target } => {
            let dir = shell_quote(target);
            (
                "files",
                format!("exec tar -czf - -C {dir} ."),
                // In a one-off container of the stopped service: what the archive does not
                // hold is gone after the restore, as it was when the archive was taken.
                format!("set -eu; cd {dir}; find . -mindepth 1 -delete; exec tar -xzf -"),
                None,
                None,
                format!(
                    "archive of the files of volume {} at {target} (service {service})",
                    stack.volume(job.volume).name
                ),
                None,
            )
        }
    };
    let name = &job.name;
    JobCtx {
        name: name.to_string(),
        service: service.to_string(),
        image,
        mode,
        dump,
        restore,
        verify_user,
        verify,
        ext: job.dump.extension(),
        wal,
        local_days: job.retention.local_days,
        remote_days: job.retention.remote_days,
        schedule: job.schedule.to_string(),
        usage_line: format!("{name:<12} {summary}"),
        summary,
        // Files are replaced under a stopped service.
        dependents: matches!(job.dump, Dump::VolumeArchive { .. })
            .then(|| service.to_string())
            .into_iter()
            .chain(stack.dependents(job.service).map(|s| s.name.to_string()))
            .collect(),
    }
}

fn jobs(runtime: &Runtime<'_>) -> Vec<JobCtx> {
    runtime
        .stack()
        .backup_jobs()
        .iter()
        .map(|job| job_ctx(runtime, job))
        .collect()
}

/// The public URL answering with the running version, and whether its certificate is
/// self-signed (then curl does not verify it).
fn verify_url(stack: &Stack) -> (Option<String>, bool) {
    let url = stack
        .operations()
        .verify_path
        .as_ref()
        .map(|p| format!("https://{}{p}", stack.domain()));
    (url, stack.tls().certificate.is_self_signed())
}

fn healthcheck_words(s: &Service) -> Option<String> {
    let words: Vec<String> = match &s.healthcheck.as_ref()?.test {
        HealthTest::Exec(args) => args.iter().map(ToString::to_string).collect(),
        HealthTest::Shell(cmd) => vec!["sh".into(), "-c".into(), cmd.to_string()],
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

fn health_ctx(runtime: &Runtime<'_>) -> HealthCtx {
    let stack = runtime.stack();
    let (url, insecure) = verify_url(stack);
    let (mut min_total, mut max_total) = (0, 0);
    let services = runtime
        .containers()
        .iter()
        .map(|c| {
            let name = &c.service.name;
            let min = c.replicas;
            let max = c.max_replicas();
            min_total += min;
            max_total += max;
            ServiceCheckCtx {
                name: name.to_string(),
                what: format!("{name} runs {}", count(min, max)),
                min,
                max,
                healthcheck: healthcheck_words(c.service),
            }
        })
        .collect();
    HealthCtx {
        header: header(stack).trim_end().to_owned(),
        env: stack.env().to_string(),
        compose_file: compose_files(stack).join(":"),
        services,
        containers: count(min_total, max_total),
        url,
        insecure,
        disk_usage_max: stack.operations().disk_usage_max,
        local_dir: match stack.backups() {
            Some(b) => b.local_dir.to_string(),
            None => stack.operations().install_dir.to_string(),
        },
    }
}

pub(crate) fn deploy_ctx(runtime: &Runtime<'_>) -> DeployCtx {
    let stack = runtime.stack();
    let app = stack.service(stack.edge().upstream.service);
    let published = app.ports.iter().find_map(|p| p.published);
    let not_rolling = match (&app.container_name, published) {
        (Some(name), _) => format!("has a fixed container name ({name})"),
        (None, Some(port)) => format!("publishes host port {}", port.port),
        (None, None) => String::new(),
    };
    let operations = stack.operations();
    let (url, insecure) = verify_url(stack);
    let migrate = operations.migrate.as_ref();
    let verify_what = match &url {
        Some(url) => format!("{url} answers with that version"),
        None if app.healthcheck.is_some() => format!("every {} container is healthy", app.name),
        None => format!("{} runs", app.name),
    };
    let followers: Vec<String> = stack
        .services()
        .iter()
        .filter(|s| s.id != app.id && operations.app_version.is_some() && s.tag_variable == operations.app_version)
        .map(|s| s.name.to_string())
        .collect();
    let tag_variable = operations.app_version.map(|v| stack.variable(v).name.to_string());
    DeployCtx {
        followers,
        header: header(stack).trim_end().to_owned(),
        env: stack.env().to_string(),
        compose_file: compose_files(stack).join(":"),
        app: app.name.to_string(),
        proxy: stack.service(stack.edge().proxy).name.to_string(),
        image_repo: app.image.repo().to_string(),
        version_env: match &tag_variable {
            Some(v) => format!("env \"{v}=$version\" "),
            None => String::new(),
        },
        tag_variable,
        rolling: not_rolling.is_empty(),
        not_rolling,
        replicas: runtime.container(app.id).max_replicas(),
        backup_jobs: stack
            .backup_jobs()
            .iter()
            .filter(|j| j.dump.is_database())
            .map(|j| j.name.to_string())
            .collect(),
        migrate: migrate.map(|args| args.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")),
        migrate_display: migrate.map(|args| args.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(" ")),
        url,
        insecure,
        app_healthcheck: app.healthcheck.is_some(),
        verify_what,
    }
}

/// The key prefix of the destination, with its trailing slash (or empty).
pub(crate) fn remote_prefix(b: &Backups) -> String {
    match b.destination.prefix() {
        "" => String::new(),
        p => format!("{p}/"),
    }
}

/// The context of `backup.sh` and `restore.sh`.
fn backup_ctx(runtime: &Runtime<'_>, b: &Backups, jobs: Vec<JobCtx>) -> BackupCtx {
    let stack = runtime.stack();
    let (aws_options, upload_options) = s3_options(b);
    BackupCtx {
        header: header(stack).trim_end().to_owned(),
        env: stack.env().to_string(),
        compose_file: compose_files(stack).join(":"),
        local_dir: b.local_dir.to_string(),
        destination: b.destination.to_string(),
        textfile_dir: stack.textfile_dir().map(ToString::to_string),
        metric: stack.metric(ScriptMetric::BackupSuccess),
        drill_metric: stack.metric(ScriptMetric::DrillSuccess),
        wal_metric: stack.metric(ScriptMetric::WalShipped),
        credentials: b.credentials.as_ref().map(|c| CredentialsCtx {
            access_key_id: stack.variable(c.access_key_id).name.to_string(),
            secret_access_key: stack.variable(c.secret_access_key).name.to_string(),
        }),
        aws_options,
        upload_options,
        bucket: b.destination.bucket().to_owned(),
        prefix: remote_prefix(b),
        any_wal: b.jobs.iter().any(|j| j.wal().is_some()),
        any_mirror: jobs.iter().any(|j| j.mode == "mirror"),
        any_stream: jobs.iter().any(|j| j.mode == "stream"),
        any_unpacked_drill: jobs.iter().any(|j| j.verify.is_none()),
        jobs,
    }
}

/// Adds the operations scripts and the crontab to the tree: `backup.sh` and `restore.sh` when
/// the stack has backup jobs, `update.sh` and `rollback.sh` when the app's version is a
/// variable.
pub fn render(runtime: &Runtime<'_>, tree: &mut Rendered) -> Result<(), RenderError> {
    let stack = runtime.stack();
    let head = header(stack).trim_end().to_owned();
    let backup = stack.backups().map(|b| backup_ctx(runtime, b, jobs(runtime)));
    if let Some(backup) = &backup {
        tree.insert(
            BACKUP_SCRIPT,
            templates::render_script(stack, templates::BACKUP_SCRIPT, backup)?,
        )?;
        tree.insert(
            RESTORE_SCRIPT,
            templates::render_script(stack, templates::RESTORE_SCRIPT, backup)?,
        )?;
    }
    tree.insert(
        HEALTHCHECK_SCRIPT,
        templates::render_script(stack, templates::HEALTHCHECK_SCRIPT, &health_ctx(runtime))?,
    )?;
    let deploy = deploy_ctx(runtime);
    if deploy.tag_variable.is_some() {
        tree.insert(
            UPDATE_SCRIPT,
            templates::render_script(stack, templates::UPDATE_SCRIPT, &deploy)?,
        )?;
        tree.insert(
            ROLLBACK_SCRIPT,
            templates::render_script(stack, templates::ROLLBACK_SCRIPT, &deploy)?,
        )?;
    }
    tree.insert(
        SCALE_SCRIPT,
        templates::render_script(stack, templates::SCALE_SCRIPT, &deploy)?,
    )?;
    tree.insert(
        CERTIFICATES_SCRIPT,
        templates::render_script(stack, templates::CERTIFICATES_SCRIPT, &certificates_ctx(stack))?,
    )?;
    let operations = stack.operations();
    let cron = CronCtx {
        header: head,
        env: stack.env().to_string(),
        file_name: stack.project().to_string(),
        install_dir: operations.install_dir.to_string(),
        log_file: format!("{}/{}-backup.log", operations.log_dir, stack.project()),
        jobs: backup.map(|b| b.jobs).unwrap_or_default(),
        drill_schedule: stack
            .backups()
            .and_then(|b| b.drill.as_ref())
            .map(|d| d.schedule.to_string()),
        wal_log: format!("{}/{}-wal.log", operations.log_dir, stack.project()),
        drill_log: format!("{}/{}-restore-drill.log", operations.log_dir, stack.project()),
        renew_schedule: stack.tls().certificate.renew_schedule.to_string(),
        certificates_log: format!("{}/{}-certificates.log", operations.log_dir, stack.project()),
    };
    tree.insert(cron_path(stack), templates::render(templates::CRON, &cron)?)?;
    Ok(())
}
