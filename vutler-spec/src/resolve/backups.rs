//! Backups (what is dumped, how, when, where to, and who watches that it happened) and the
//! operations scripts (where they run, what `update.sh` sets and checks).
//!
//! Rules: `cron`, `backup-method-fields` (each method reads exactly its fields),
//! `backup-volume-not-mounted`, `data-volume-without-backup` (a warning),
//! `backups-unwatched` (a warning: no scrape job reports backups), `textfile-dir-unset`,
//! `textfile-dir-not-mounted` and `textfile-dir-not-read` (`backup.sh` writes its metric where
//! node-exporter reads it) and `secrets-unwatched` (a warning: a rotation age no alert watches).

use crate::diagnostic::Diagnostic;
use crate::path::SpecPath;
use crate::raw::{
    BackupMethod, Datastore, RawBackupJob, RawBackups, RawMount, RawRetention, RawS3Options, ServerSideEncryption,
    VolumeKind,
};
use crate::rule::Rule;
use crate::stack::*;
use crate::text::{AbsolutePath, HttpUrl, Name, OneLine, S3Url, UrlPath};
use crate::units::Duration;

use super::variables::secret_ref;
use super::{Cx, all};

/// The backups part: the backups when there is a job, and the textfile collector's folder.
/// `None` on an error.
pub(super) fn backups(
    cx: &mut Cx<'_>,
    services: &[Option<Service>],
) -> Option<(Option<Backups>, Option<AbsolutePath>)> {
    let raw = cx.raw;
    let none = RawBackups::default();
    let b = raw.backups.as_ref().unwrap_or(&none);
    let p = SpecPath::top("backups");
    // With jobs these say where and how fresh; without, they need not be given.
    let required = |cx: &mut Cx<'_>, key: &str, value: Option<&String>, example: &str| {
        if value.is_none() && !b.jobs.is_empty() {
            cx.error_help(
                Rule::Type,
                p.clone(),
                format!("missing field `{key}`"),
                format!("backup jobs need it: add `{key}: {example}` under `backups`"),
            );
        }
        value.is_some() || b.jobs.is_empty()
    };
    let have = [
        required(cx, "local_dir", b.local_dir.as_ref(), "/backup"),
        required(cx, "destination", b.destination.as_ref(), "s3://BUCKET/PREFIX"),
        required(cx, "stale_after", b.stale_after.as_ref(), "26h"),
    ];
    let local_dir = cx.text_opt(p.key("local_dir"), b.local_dir.as_ref(), AbsolutePath::parse);
    let destination = cx.text_opt(p.key("destination"), b.destination.as_ref(), S3Url::parse);
    let stale_after = cx.duration_opt(p.key("stale_after"), b.stale_after.as_ref());
    let credentials = match &b.credentials {
        None => Some(None),
        Some(c) => {
            let cp = p.key("credentials");
            let access_key_id = secret_ref(cx, cp.key("access_key_id"), &c.access_key_id);
            let secret_access_key = secret_ref(cx, cp.key("secret_access_key"), &c.secret_access_key);
            match (access_key_id, secret_access_key) {
                (Some(access_key_id), Some(secret_access_key)) => Some(Some(BackupCredentials {
                    access_key_id,
                    secret_access_key,
                })),
                _ => None,
            }
        }
    };
    let textfile_dir = cx.text_opt(p.key("textfile_dir"), b.textfile_dir.as_ref(), AbsolutePath::parse);
    let s3 = s3_options(cx, &p.key("s3"), b.s3.as_ref());
    let drill = match &b.drill {
        None => Some(None),
        Some(d) => {
            let dp = p.key("drill");
            let schedule = cx.schedule(dp.key("schedule"), &d.schedule);
            let stale_after = cx.duration(dp.key("stale_after"), &d.stale_after);
            Some(Some(Drill {
                schedule: schedule?,
                stale_after: stale_after?,
            }))
        }
    };
    let jp = p.key("jobs");
    let jobs = all(b.jobs.iter().map(|(name, j)| job(cx, &jp, name, j, services)));
    for (name, v) in &raw.volumes {
        if v.kind == VolumeKind::Data && !b.jobs.values().any(|j| j.volume == *name) {
            cx.report(
                Diagnostic::new(
                    Rule::DataVolumeWithoutBackup,
                    SpecPath::top("volumes").key(name),
                    format!("data volume `{name}` has no backup job"),
                )
                .with_help("add a job under backups.jobs, or set `kind: cache` if its content can be rebuilt"),
            );
        }
    }
    let watched = watched(cx, b, services);
    watched?;
    have.iter().all(|h| *h).then_some(())?;
    let (credentials, s3, drill, jobs) = (credentials?, s3?, drill?, jobs?);
    let backups = match (local_dir?, destination?, stale_after?) {
        (Some(local_dir), Some(destination), Some(stale_after)) if !jobs.is_empty() => Some(Backups {
            local_dir,
            destination,
            stale_after,
            credentials,
            s3,
            drill,
            jobs,
        }),
        _ => None,
    };
    Some((backups, textfile_dir?))
}

fn s3_options(cx: &mut Cx<'_>, p: &SpecPath, raw: Option<&RawS3Options>) -> Option<S3Options> {
    let Some(o) = raw else {
        return Some(S3Options::default());
    };
    let endpoint = cx.text_opt(p.key("endpoint"), o.endpoint.as_ref(), HttpUrl::parse);
    let region = cx.text_opt(p.key("region"), o.region.as_ref(), Name::parse);
    let kms_key = cx.text_opt(p.key("kms_key_id"), o.kms_key_id.as_ref(), OneLine::parse);
    let encryption = match (o.server_side_encryption, kms_key?) {
        (Some(ServerSideEncryption::AwsKms), key) => Some(Some((ServerSideEncryption::AwsKms, key))),
        (Some(sse), None) => Some(Some((sse, None))),
        (None, None) => Some(None),
        (_, Some(_)) => {
            cx.error(
                Rule::BackupEncryption,
                p.key("kms_key_id"),
                "a KMS key is only used by `server_side_encryption: aws:kms`",
            );
            None
        }
    };
    Some(S3Options {
        endpoint: endpoint?,
        region: region?,
        storage_class: o.storage_class,
        encryption: encryption?,
    })
}

fn job(
    cx: &mut Cx<'_>,
    jp: &SpecPath,
    name: &str,
    j: &RawBackupJob,
    services: &[Option<Service>],
) -> Option<BackupJob> {
    let raw = cx.raw;
    let p = jp.key(name);
    let job_name = cx.name(jp, name);
    let service = cx.service_ref(p.key("service"), &j.service);
    let volume = cx.volume_ref(p.key("volume"), &j.volume);
    let mut mounted = true;
    if let (Some(s), Some(_)) = (service, volume) {
        let mounts = |m: &RawMount| m.volume.as_deref() == Some(j.volume.as_str());
        if !raw.services[s.0].mounts.iter().any(mounts) {
            cx.error(
                Rule::BackupVolumeNotMounted,
                p.key("volume"),
                format!("service `{}` does not mount volume `{}`", j.service, j.volume),
            );
            mounted = false;
        }
    }
    let fields = method_fields(cx, &p, j);
    let kind_ok = service.is_none_or(|s| {
        let needs = match j.method {
            BackupMethod::PgDump => Datastore::Postgresql,
            BackupMethod::Mongodump => Datastore::Mongodb,
            BackupMethod::MinioMirror => Datastore::Minio,
            BackupMethod::VolumeArchive => {
                return super::credentials::holds_files(cx, p.key("method"), &j.service, &raw.services[s.0]);
            }
        };
        super::credentials::runs(
            cx,
            p.key("method"),
            &j.service,
            &raw.services[s.0],
            needs,
            &format!("`{}`", j.method.as_str()),
        )
    });
    let database = cx.text_opt(p.key("database"), j.database.as_ref(), Name::parse);
    let env = |cx: &mut Cx<'_>, field: &str, var: &Option<String>| -> Option<Option<EnvRef>> {
        let (Some(var), Some(service)) = (var, service) else {
            return Some(None);
        };
        let environment = &raw.services[service.0].environment;
        match environment.get_index_of(var.as_str()) {
            Some(index) => Some(Some(EnvRef { service, index })),
            None => {
                cx.dangling(
                    p.key(field),
                    format!("service `{}` has no variable `{var}` in its environment", j.service),
                    var,
                    environment.keys(),
                );
                None
            }
        }
    };
    let user = env(cx, "user_env", &j.user_env);
    let password = env(cx, "password_env", &j.password_env);
    let api = match (&j.port, service) {
        (Some(port), Some(s)) => cx.port_ref(p.key("port"), s, port).map(Some),
        _ => Some(None),
    };
    let schedule = cx.schedule(p.key("schedule"), &j.schedule);
    let retention = retention(cx, &p.key("retention"), &j.retention);
    let size = cx.size(p.key("size"), &j.size);
    let wal = match (&j.rpo, service, volume) {
        (Some(rpo), Some(s), Some(v)) if j.method == BackupMethod::PgDump => {
            // The service's own problems are reported with it.
            services[s.0]
                .as_ref()
                .map_or(Some(None), |built| wal_archive(cx, &p, rpo, built, v).map(Some))
        }
        _ => Some(None),
    };
    // With the fields checked, each method finds what it reads.
    (fields && mounted && kind_ok).then_some(())?;
    let (user, password, api, database) = (user?, password?, api?, database?);
    let dump = match j.method {
        BackupMethod::PgDump => Dump::PgDump {
            database: database?,
            user: user?,
            password,
            wal: wal?,
        },
        BackupMethod::Mongodump => Dump::Mongodump {
            database,
            user: user?,
            password: password?,
        },
        BackupMethod::MinioMirror => Dump::MinioMirror {
            user: user?,
            password: password?,
            api: api?,
        },
        BackupMethod::VolumeArchive => Dump::VolumeArchive {
            // Mount checks are reported with the volume field.
            target: service.zip(volume).and_then(|(s, v)| {
                services[s.0].as_ref()?.mounts.iter().find_map(|m| match m {
                    Mount::Volume { volume, target, .. } if *volume == v => Some(target.clone()),
                    _ => None,
                })
            })?,
        },
    };
    Some(BackupJob {
        name: job_name?,
        service: service?,
        volume: volume?,
        dump,
        schedule: schedule?,
        retention: retention?,
        size: size?,
    })
}

/// PostgreSQL archives into the job's volume beside `PGDATA`, with settings rendered from the RPO.
fn wal_archive(cx: &mut Cx<'_>, p: &SpecPath, rpo: &str, service: &Service, volume: VolumeId) -> Option<WalArchive> {
    let path = p.key("rpo");
    let rpo = cx.duration(path.clone(), rpo)?;
    let ship = WalArchive::SHIP_EVERY;
    if rpo.millis() < 2 * ship.millis() {
        cx.error_help(
            Rule::WalArchive,
            path,
            format!("an RPO of {rpo} cannot be met: the archive is shipped every minute"),
            "give 2m or more",
        );
        return None;
    }
    let rendered = ["archive_mode", "archive_command", "archive_timeout", "restore_command"];
    if let Some(flag) = service
        .command
        .iter()
        .flatten()
        .find(|a| rendered.iter().any(|r| a.contains(r)))
    {
        cx.error_help(
            Rule::WalArchive,
            path,
            format!(
                "service `{}` sets `{flag}` itself, which the job's `rpo` renders",
                service.name
            ),
            "remove the archive settings from its command",
        );
        return None;
    }
    // Mount checks are reported with the volume field.
    let target = service.mounts.iter().find_map(|m| match m {
        Mount::Volume { volume: v, target, .. } if *v == volume => Some(target.as_str().trim_end_matches('/')),
        _ => None,
    })?;
    let pgdata = service
        .environment
        .iter()
        .find(|v| v.key == "PGDATA")
        .and_then(|v| match &v.value {
            EnvValue::Text(t) => match t.parts() {
                [TextPart::Literal(value)] => Some(value.as_str()),
                _ => None,
            },
            _ => None,
        });
    let Some(pgdata) = pgdata
        .filter(|d| {
            d.strip_prefix(target)
                .is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'))
        })
        .and_then(|d| AbsolutePath::parse(d).ok())
    else {
        cx.error_help(
            Rule::WalArchive,
            path,
            format!(
                "the WAL archive sits beside PGDATA in the volume mounted at `{target}`, but service `{}` does not keep PGDATA in a folder of it",
                service.name
            ),
            format!("set `PGDATA: {target}/pgdata` in its environment"),
        );
        return None;
    };
    let dir = AbsolutePath::parse(&format!("{target}/wal-archive")).ok()?;
    let half = rpo.millis().saturating_sub(ship.millis()) / 2 / 1000 * 1000;
    Some(WalArchive {
        rpo,
        switch_after: Duration::from_millis(half.max(30_000)),
        pgdata,
        dir,
    })
}

/// Retention is counted in days, at least one: the scripts prune by the age of a backup's name.
fn retention(cx: &mut Cx<'_>, p: &SpecPath, r: &RawRetention) -> Option<Retention> {
    let mut days = |field: &str, text: &str| {
        cx.duration(p.key(field), text)
            .and_then(|d| cx.whole(p.key(field), d, Duration::from_millis(86_400_000), "days"))
            .and_then(Duration::whole_days)
    };
    let (local_days, remote_days) = (days("local", &r.local)?, days("remote", &r.remote)?);
    if local_days > remote_days {
        cx.error_help(
            Rule::BackupRetention,
            p.key("local"),
            format!("local copies are kept {local_days} days, uploaded ones only {remote_days}"),
            format!("keep uploaded copies at least {local_days} days, or fewer local ones"),
        );
        return None;
    }
    Some(Retention {
        local_days,
        remote_days,
    })
}

/// Each method reads its own fields: a missing one is an error, and so is one it ignores.
fn method_fields(cx: &mut Cx<'_>, path: &SpecPath, j: &RawBackupJob) -> bool {
    use BackupMethod::*;
    // (field, set, required by, accepted by)
    let fields: [(&str, bool, &[BackupMethod], &[BackupMethod]); 5] = [
        ("database", j.database.is_some(), &[PgDump], &[PgDump, Mongodump]),
        (
            "user_env",
            j.user_env.is_some(),
            &[PgDump, Mongodump, MinioMirror],
            &[PgDump, Mongodump, MinioMirror],
        ),
        (
            "password_env",
            j.password_env.is_some(),
            &[Mongodump, MinioMirror],
            &[PgDump, Mongodump, MinioMirror],
        ),
        ("port", j.port.is_some(), &[MinioMirror], &[MinioMirror]),
        ("rpo", j.rpo.is_some(), &[], &[PgDump]),
    ];
    let method = j.method.as_str();
    let mut ok = true;
    for (field, set, required, accepted) in fields {
        if !set && required.contains(&j.method) {
            cx.error(
                Rule::BackupMethodFields,
                path.clone(),
                format!("method `{method}` needs `{field}`"),
            );
            ok = false;
        } else if set && !accepted.contains(&j.method) {
            cx.error(
                Rule::BackupMethodFields,
                path.key(field),
                format!("`{field}` does not apply to method `{method}`"),
            );
            ok = false;
        }
    }
    ok
}

/// The stale-backup alerts watch a metric `backup.sh` writes for node-exporter's textfile
/// collector: the folder it writes must be the one the exporter reads. `None` on an error.
fn watched(cx: &mut Cx<'_>, b: &RawBackups, services: &[Option<Service>]) -> Option<()> {
    let raw = cx.raw;
    let metric = |m: ScriptMetric| m.name(&raw.project);
    let (backup_metric, wal_metric, drill_metric, tls_metric, secret_metric) = (
        metric(ScriptMetric::BackupSuccess),
        metric(ScriptMetric::WalShipped),
        metric(ScriptMetric::DrillSuccess),
        metric(ScriptMetric::TlsExpiry),
        metric(ScriptMetric::SecretRotated),
    );
    let lists = |metric: &str| {
        raw.scrape_jobs()
            .map(|(_, j)| j)
            .find(|j| j.metrics.iter().any(|m| m == metric))
    };
    let backup_exporter = lists(&backup_metric).filter(|_| !b.jobs.is_empty());
    if !b.jobs.is_empty() && backup_exporter.is_none() {
        let d = if raw.monitoring.is_none() {
            Diagnostic::new(
                Rule::BackupsUnwatched,
                SpecPath::top("backups"),
                "the stack has no monitoring: failed or stale backups raise no alert (read the cron logs)",
            )
            .with_help(format!(
                "add `monitoring` with a node-exporter scrape job that lists `{backup_metric}`"
            ))
        } else {
            Diagnostic::new(
                Rule::BackupsUnwatched,
                SpecPath::top("backups"),
                format!("no scrape job lists `{backup_metric}`: failed or stale backups raise no alert"),
            )
            .with_help("list the metric under the node-exporter scrape job and set `backups.textfile_dir`")
        };
        cx.report(d);
    }
    // Without monitoring, the warning above says it for every metric.
    let monitored = raw.monitoring.is_some();
    // Kubernetes archives no WAL (`kubernetes-backups` says so).
    let archives = !matches!(raw.platform, crate::raw::RawPlatform::Kubernetes(_));
    if monitored && archives && b.jobs.values().any(|j| j.rpo.is_some()) && lists(&wal_metric).is_none() {
        cx.report(
            Diagnostic::new(
                Rule::BackupsUnwatched,
                SpecPath::top("backups"),
                format!("no scrape job lists `{wal_metric}`: WAL that stops reaching the destination raises no alert"),
            )
            .with_help("list the metric under the node-exporter scrape job"),
        );
    }
    if monitored && b.drill.is_some() && !b.jobs.is_empty() && lists(&drill_metric).is_none() {
        cx.report(
            Diagnostic::new(
                Rule::BackupsUnwatched,
                SpecPath::top("backups").key("drill"),
                format!("no scrape job lists `{drill_metric}`: backups that stop restoring raise no alert"),
            )
            .with_help("list the metric under the node-exporter scrape job"),
        );
    }
    // The scripts' metrics (backups, the certificate's expiry) go where node-exporter reads them.
    let Some((metric, exporter)) = backup_exporter
        .map(|e| (backup_metric.as_str(), e))
        .or_else(|| lists(&tls_metric).map(|e| (tls_metric.as_str(), e)))
        .or_else(|| lists(&secret_metric).map(|e| (secret_metric.as_str(), e)))
    else {
        return Some(());
    };
    let Some(dir) = &b.textfile_dir else {
        cx.error_help(
            Rule::TextfileDirUnset,
            SpecPath::top("backups"),
            format!("`{metric}` is scraped, but `backups.textfile_dir` does not say where the scripts write it"),
            "set `textfile_dir` to the host folder of node-exporter's textfile collector",
        );
        return None;
    };
    // The exporter's own problems (and a dangling service) are reported elsewhere.
    let service = services
        .iter()
        .flatten()
        .find(|s| s.name == exporter.service.as_str())?;
    // Every place the exporter sees the host folder, through each bind mount that holds it.
    let seen: Vec<String> = service
        .mounts
        .iter()
        .filter_map(|m| match m {
            Mount::Bind { source, target, .. } => in_container(source, target, dir),
            _ => None,
        })
        .collect();
    let path = SpecPath::top("backups").key("textfile_dir");
    let Some(first) = seen.first() else {
        cx.error_help(
            Rule::TextfileDirNotMounted,
            path,
            format!("service `{}` does not mount `{dir}` from the host", exporter.service),
            format!("bind-mount it (or a folder holding it) into `{}`", exporter.service),
        );
        return None;
    };
    let flags: Vec<String> = seen
        .iter()
        .map(|p| format!("--collector.textfile.directory={p}"))
        .collect();
    if !service
        .command
        .iter()
        .flatten()
        .any(|a| flags.iter().any(|f| *a == f.as_str()))
    {
        cx.error_help(
            Rule::TextfileDirNotRead,
            path,
            format!(
                "service `{}` mounts `{dir}` at `{first}` but does not read textfile metrics from it",
                exporter.service
            ),
            format!("add `{}` to its command", flags[0]),
        );
        return None;
    }
    Some(())
}

/// Where a container sees the host folder `dir` through a bind mount of `source` at `target`,
/// when the mount holds it.
fn in_container(source: &str, target: &str, dir: &str) -> Option<String> {
    let trim = |p: &str| -> String {
        let t = p.trim_end_matches('/');
        if t.is_empty() { "/".to_owned() } else { t.to_owned() }
    };
    let (source, target, dir) = (trim(source), trim(target), trim(dir));
    let rest = if source == "/" {
        dir.strip_prefix('/')?
    } else if dir == source {
        ""
    } else {
        dir.strip_prefix(source.as_str())?.strip_prefix('/')?
    };
    Some(match (target.as_str(), rest) {
        (t, "") => t.to_owned(),
        ("/", r) => format!("/{r}"),
        (t, r) => format!("{t}/{r}"),
    })
}

/// The operations part.
pub(super) fn operations(cx: &mut Cx<'_>, services: &[Option<Service>]) -> Option<Operations> {
    let raw = cx.raw;
    let o = &raw.operations;
    let p = SpecPath::top("operations");
    let install_dir = o.install_dir.clone().unwrap_or_else(|| format!("/opt/{}", raw.project));
    let install_dir = cx.text(p.key("install_dir"), &install_dir, AbsolutePath::parse);
    let log_dir = cx.text(
        p.key("log_dir"),
        o.log_dir.as_deref().unwrap_or("/var/log"),
        AbsolutePath::parse,
    );
    let migrate = match &o.migrate {
        None => Some(None),
        Some(args) if args.is_empty() => {
            cx.empty_list(p.key("migrate"), "the migration command", "word");
            None
        }
        Some(args) => cx.command_line(&p.key("migrate"), args).map(Some),
    };
    let verify_path = cx.text_opt(p.key("verify_path"), o.verify_path.as_ref(), UrlPath::parse);
    let disk_usage_max = o.disk_usage_max.unwrap_or(85);
    let disk_ok = (1..=99).contains(&disk_usage_max);
    if !disk_ok {
        cx.out_of_range(
            p.key("disk_usage_max"),
            format!("{disk_usage_max}% is not a usage limit: use 1 to 99"),
        );
    }
    let app_version = app_version(cx, services);
    let rotate_secrets_after = cx.duration_opt(p.key("rotate_secrets_after"), o.rotate_secrets_after.as_ref());
    let secret_metric = ScriptMetric::SecretRotated.name(&raw.project);
    let watched = raw.scrape_jobs().any(|(_, j)| j.metrics.contains(&secret_metric));
    if o.rotate_secrets_after.is_some() && !watched {
        cx.report(
            Diagnostic::new(
                Rule::SecretsUnwatched,
                p.key("rotate_secrets_after"),
                format!("no scrape job lists `{secret_metric}`: no alert says when a secret is due"),
            )
            .with_help("list the metric under the node-exporter scrape job, or remove `rotate_secrets_after`"),
        );
    }
    disk_ok.then_some(())?;
    Some(Operations {
        install_dir: install_dir?,
        log_dir: log_dir?,
        migrate: migrate?,
        verify_path: verify_path?,
        disk_usage_max,
        app_version: app_version?,
        rotate_secrets_after: rotate_secrets_after?,
    })
}

/// The variable `update.sh` and `rollback.sh` set the app's version through: its tag
/// variable, when it has one (`Some(None)` when it has none).
fn app_version(cx: &mut Cx<'_>, services: &[Option<Service>]) -> Option<Option<VariableId>> {
    let raw = cx.raw;
    let app = &raw.edge.upstream;
    // A dangling upstream is reported with the edge.
    let s = raw.services.get(app)?;
    if s.tag_variable.is_none() {
        return Some(None);
    }
    // Its own problems are reported with the service.
    services
        .iter()
        .flatten()
        .find(|built| built.name == app.as_str())
        .and_then(|built| built.tag_variable)
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::in_container;

    #[test]
    fn a_host_folder_is_seen_through_any_bind_mount_that_holds_it() {
        let dir = "/var/lib/node_exporter/textfile";
        assert_eq!(
            in_container("/", "/host", dir).as_deref(),
            Some("/host/var/lib/node_exporter/textfile")
        );
        assert_eq!(in_container(dir, "/textfile", dir).as_deref(), Some("/textfile"));
        assert_eq!(
            in_container("/var/lib/", "/lib", dir).as_deref(),
            Some("/lib/node_exporter/textfile")
        );
        assert_eq!(in_container("/var/lib/node", "/x", dir), None);
        assert_eq!(in_container("/srv", "/x", dir), None);
        assert_eq!(
            in_container("/var", "/", dir).as_deref(),
            Some("/lib/node_exporter/textfile")
        );
    }
}
