//! The backup jobs as CronJobs (`k8s/backups.yaml`): the crontab's jobs, at the same times in
//! UTC, writing the same objects to the destination as `scripts/backup.sh`, so that one
//! restore procedure reads both deployments' backups.
//!
//! Decisions:
//! - A job's pod dumps its service over the network, through the service's Service: the
//!   claim is ReadWriteOnce and mounted by the service's pod alone, and a CronJob that
//!   `kubectl exec`s into it would need API rights no workload here has. The dump container
//!   runs the service's image (its own `pg_dump`, `mongodump` or `mc`, of the server's
//!   version) with copies of the service's credential variables, read the way a script in
//!   the service's container reads them (`ops::container_value`), so no credential is an
//!   argument or in a manifest.
//! - A volume archive reads the service's claim instead, read-only, from a pod the scheduler
//!   must place on the service pod's node (a ReadWriteOnce claim is mounted on one node, by any
//!   of its pods), with `DAC_READ_SEARCH` so that `tar` reads every file whatever its owner, as
//!   the Compose job's `tar` does with Docker's capabilities. Its consistency is the Compose
//!   job's: the files of a running service.
//! - The dump is checked where it is written, by the tool's own listing or the archive's
//!   structure, and only then given its final name: the upload container, which runs only
//!   after every init container succeeded, uploads a checked backup or nothing. A mirror is
//!   packed by a BusyBox container (the MinIO image has no `tar`).
//! - The upload container (the AWS CLI) runs `backup.sh JOB` from a ConfigMap named by its
//!   hash: upload, size check and remote pruning (never the newest) are the Compose
//!   script's own functions. Local retention is Compose's alone: a pod keeps nothing.
//! - `concurrencyPolicy: Forbid` with a deadline: a run still going when the next is due
//!   makes that one wait, and a hung dump is stopped after [`ACTIVE_DEADLINE`] so that it
//!   cannot hold back every later run. A run the controller missed (restarted) still starts
//!   within [`STARTING_DEADLINE`]; a failed pod is retried [`RETRIES`] times, each try a new
//!   backup name.
//! - The dump's disk is requested as ephemeral storage (the job's expected size, twice for a
//!   mirror, staged and packed), so the scheduler picks a node with room for it; nothing
//!   limits it, since exceeding a limit would evict the pod mid-dump.
//! - The service's NetworkPolicy admits the job's pods on the port they dump through; when
//!   the firewall denies outgoing traffic, the pods may also open connections to that port
//!   and to the destination's port anywhere (an object store is outside the cluster).

use serde::Serialize;
use sha2::{Digest, Sha256};
use vutler_spec::stack::{BackupJob, Backups, Dump, EnvRef, FirewallPolicy, Kubernetes, Protocol, Service};

use super::objects::*;
use super::{Cx, MANAGED_BY, literal, secret_name};
use crate::ops::{MONGO_CONFIG, PERCENT_ENCODE, read_password, remote_prefix, s3_options};
use crate::runtime::{EnvSource, InContainer, SecretFile};
use crate::{RenderError, Runtime, header, templates};

/// The pod's folder (an `emptyDir`) the dump is written to and uploaded from.
pub const OUT_DIR: &str = "/backup-out";
/// Where the upload container finds `backup.sh`.
pub const SCRIPTS_DIR: &str = "/scripts";
/// The key of the upload script in its ConfigMap.
pub const SCRIPT_KEY: &str = "backup.sh";
/// The label value of the pods of every backup job.
pub const COMPONENT: &str = "backup";

/// Seconds a run may take before it is stopped (6 hours).
pub const ACTIVE_DEADLINE: u32 = 6 * 3600;
/// Seconds after its time a missed run may still start (1 hour).
pub const STARTING_DEADLINE: u32 = 3600;
/// Retries of a failed pod.
pub const RETRIES: u32 = 2;

/// The CronJob of a job (`backup-postgres`).
pub fn cron_job_name(job: &BackupJob) -> String {
    Kubernetes::cron_job_name(&job.name)
}

/// The port a job's pod connects to: the S3 API of a mirror, else the service's first TCP
/// port (validation makes sure it has one).
pub fn dump_port(stack: &vutler_spec::Stack, job: &BackupJob) -> Option<u16> {
    match &job.dump {
        Dump::MinioMirror { api, .. } => Some(stack.endpoint(*api).port),
        Dump::VolumeArchive { .. } => None,
        Dump::PgDump { .. } | Dump::Mongodump { .. } => stack
            .service(job.service)
            .ports
            .iter()
            .find(|p| p.protocol == Protocol::Tcp)
            .map(|p| p.container),
    }
}

/// What a job's pod runs before the upload.
struct Steps {
    /// Shell script of the dump container: dumps, checks and names the backup (a mirror: the
    /// staged files).
    dump: String,
    /// Shell script of the BusyBox container packing a mirror's staged files.
    pack: Option<String>,
    /// The claim a volume archive reads (mounted read-only where the service mounts it, from
    /// a pod on the service pod's node), and that path.
    claim: Option<(String, String)>,
}

/// The upload script's context.
#[derive(Debug, Serialize)]
struct ScriptCtx {
    header: String,
    env: String,
    out_dir: &'static str,
    destination: String,
    bucket: String,
    prefix: String,
    aws_options: String,
    upload_options: String,
    credentials: Option<CredentialsCtx>,
    jobs: Vec<ScriptJob>,
}

#[derive(Debug, Serialize)]
struct CredentialsCtx {
    access_key_id: String,
    secret_access_key: String,
}

#[derive(Debug, Serialize)]
struct ScriptJob {
    name: String,
    ext: &'static str,
    remote_days: u64,
}

/// Writes the password in `$pw` into a password file for libpq (`PGPASSFILE`, `:` and `\`
/// escaped), removed when the script ends: never an argument or a variable of `pg_dump`.
const PG_PASSFILE: &str = "pass=$(mktemp); trap 'rm -f \"$pass\"' EXIT; \
printf '*:*:*:*:%s\\n' \"$(printf '%s' \"$pw\" | sed 's/[\\\\:]/\\\\&/g')\" >\"$pass\"; export PGPASSFILE=\"$pass\"";

/// A dump script: private files, the backup's name (a UTC time), then the lines.
fn script(job: &BackupJob, lines: &[&str]) -> String {
    let mut out = format!(
        "set -eu; umask 077\nname=$(date -u +%Y%m%dT%H%M%SZ); file={OUT_DIR}/$name.{}",
        job.dump.extension()
    );
    for line in lines {
        out.push('\n');
        out.push_str(line);
    }
    out
}

/// A dump script whose lines write and check `$file.new`, which then gets its final name.
fn checked(job: &BackupJob, lines: &[&str]) -> String {
    script(job, &[lines, &[RENAME]].concat())
}

/// Gives a checked backup its final name.
const RENAME: &str = "mv \"$file.new\" \"$file\"";

/// Checks a gzipped tar: compressed whole, and its entries listed.
const TAR_CHECK: &str = "gzip -t \"$file.new\"\ntar -tzf \"$file.new\" >/dev/null";

/// What a job's pod runs; `None` for a job validation refuses on Kubernetes
/// (`kubernetes-backup-job`).
fn steps(runtime: &Runtime<'_>, k8s: &Kubernetes, job: &BackupJob) -> Option<Steps> {
    let stack = runtime.stack();
    let host = &stack.service(job.service).name;
    if let Dump::VolumeArchive { target } = &job.dump {
        k8s.claim(job.volume)?;
        let dir = crate::templates::shell_quote(target);
        return Some(Steps {
            dump: checked(job, &[&format!("tar -czf \"$file.new\" -C {dir} ."), TAR_CHECK]),
            pack: None,
            // The StatefulSet's claim of its only pod.
            claim: Some((
                format!("{}-{host}-0", stack.volume(job.volume).name),
                target.to_string(),
            )),
        });
    }
    let port = dump_port(stack, job)?;
    let var = |v: EnvRef| crate::ops::container_value(runtime, v);
    Some(match &job.dump {
        Dump::PgDump {
            database,
            user,
            password,
            ..
        } => {
            let password = (*password)?;
            let db = crate::templates::shell_quote(database);
            Steps {
                dump: checked(
                    job,
                    &[
                        &read_password(runtime, password),
                        PG_PASSFILE,
                        &format!(
                            "pg_dump --host={host} --port={port} --username={} --dbname={db} --format=custom --no-owner --file=\"$file.new\"",
                            var(*user)
                        ),
                        // The archive's table of contents: a truncated or foreign file fails.
                        "pg_restore --list \"$file.new\" >/dev/null",
                    ],
                ),
                pack: None,
                claim: None,
            }
        }
        Dump::Mongodump {
            database,
            user,
            password,
        } => {
            let only = match database {
                Some(db) => format!(" --db={}", crate::templates::shell_quote(db)),
                None => String::new(),
            };
            Steps {
                dump: checked(
                    job,
                    &[
                        &read_password(runtime, *password),
                        MONGO_CONFIG,
                        &format!(
                            "mongodump --config=\"$cfg\" --authenticationDatabase=admin --username={} --host={host} --port={port} --archive=\"$file.new\" --gzip{only}",
                            var(*user)
                        ),
                        // Compressed whole, and a mongodump archive: its magic number.
                        "gzip -t \"$file.new\"",
                        "magic=$(gzip -dc \"$file.new\" | head -c 4 | od -An -tx1 | tr -d ' \\n')",
                        "if [ \"$magic\" != 6de29981 ]; then echo \"$file.new is not a mongodump archive\" >&2; exit 1; fi",
                    ],
                ),
                pack: None,
                claim: None,
            }
        }
        Dump::MinioMirror { user, password, .. } => Steps {
            dump: script(
                job,
                &[
                    PERCENT_ENCODE,
                    &format!("user={}", var(*user)),
                    &read_password(runtime, *password),
                    &format!("export MC_HOST_backupsrc=\"http://$(enc \"$user\"):$(enc \"$pw\")@{host}:{port}\""),
                    "mkdir \"$file.stage\"",
                    "exec mc mirror --quiet backupsrc \"$file.stage\"",
                ],
            ),
            pack: Some(format!(
                "set -eu; umask 077\n\
                 for stage in {OUT_DIR}/*.tar.gz.stage; do\n\
                 \x20 file=${{stage%.stage}}\n\
                 \x20 tar -czf \"$file.new\" -C \"$stage\" .\n\
                 \x20 {}\n\
                 \x20 rm -rf \"$stage\"\n\
                 \x20 {RENAME}\n\
                 done",
                TAR_CHECK.replace('\n', "\n  ")
            )),
            claim: None,
        },
        Dump::VolumeArchive { .. } => return None,
    })
}

/// The destination's port: the endpoint's, else HTTPS's.
fn destination_port(b: &Backups) -> u16 {
    b.s3.endpoint.as_ref().map_or(443, |e| url_port(e.as_str()))
}

/// The port of an HTTP(S) URL: its own, else its scheme's.
fn url_port(url: &str) -> u16 {
    let (default, rest) = match url.strip_prefix("http://") {
        Some(rest) => (80, rest),
        None => (443, url.strip_prefix("https://").unwrap_or(url)),
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    // After the host, which an IPv6 address brackets.
    let after_host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(_, after)| after),
        None => authority.find(':').map_or("", |i| &authority[i..]),
    };
    after_host
        .strip_prefix(':')
        .and_then(|port| port.parse().ok())
        .unwrap_or(default)
}

impl Cx<'_> {
    /// The labels of a job's pods, which its service's NetworkPolicy admits.
    pub(super) fn backup_selector(&self, job: &BackupJob) -> Map {
        self.selector_named(&cron_job_name(job))
    }

    fn backup_labels(&self, job: &BackupJob) -> Map {
        let mut labels = self.backup_selector(job);
        labels.insert("app.kubernetes.io/component".into(), COMPONENT.into());
        labels.insert("app.kubernetes.io/managed-by".into(), MANAGED_BY.into());
        labels
    }

    /// The ingress rules admitting the backup pods of a service's jobs.
    pub(super) fn backup_ingress(&self, service: &Service) -> Vec<PolicyIngress> {
        self.stack
            .backup_jobs()
            .iter()
            .filter(|j| j.service == service.id)
            .filter_map(|j| {
                let port = dump_port(self.stack, j)?;
                Some(PolicyIngress {
                    from: vec![Peer::pods(self.backup_selector(j))],
                    ports: super::policy_ports(service, &[port]),
                })
            })
            .collect()
    }

    /// `k8s/backups.yaml`: the upload script's ConfigMap, then per job its CronJob (and its
    /// egress policy when outgoing traffic is denied). Empty without backup jobs.
    pub(super) fn backups(&self, runtime: &Runtime<'_>) -> Result<Vec<serde_json::Value>, RenderError> {
        let stack = self.stack;
        let Some(b) = stack.backups() else {
            return Ok(Vec::new());
        };
        if b.jobs.is_empty() {
            return Ok(Vec::new());
        }
        // Never a job dropped: one the manifests cannot run fails the render.
        let jobs = b
            .jobs
            .iter()
            .map(|j| {
                steps(runtime, self.k8s, j).map(|s| (j, s)).ok_or_else(|| {
                    RenderError::Unrunnable(format!(
                        "backup job `{}` cannot run as a Kubernetes CronJob (`kubernetes-backup-job` refuses it)",
                        j.name
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (aws_options, upload_options) = s3_options(b);
        let credentials = b.credentials.as_ref();
        let script = templates::render(
            templates::K8S_BACKUP_SCRIPT,
            &ScriptCtx {
                header: header(stack).trim_end().to_owned(),
                env: stack.env().to_string(),
                out_dir: OUT_DIR,
                destination: b.destination.to_string(),
                bucket: b.destination.bucket().to_owned(),
                prefix: remote_prefix(b),
                aws_options,
                upload_options,
                credentials: credentials.map(|c| CredentialsCtx {
                    access_key_id: secret_name(stack.variable(c.access_key_id)),
                    secret_access_key: secret_name(stack.variable(c.secret_access_key)),
                }),
                jobs: jobs
                    .iter()
                    .map(|(j, _)| ScriptJob {
                        name: j.name.to_string(),
                        ext: j.dump.extension(),
                        remote_days: j.retention.remote_days,
                    })
                    .collect(),
            },
        )?;
        let hash: String = Sha256::digest(script.as_bytes())
            .iter()
            .take(5)
            .map(|b| format!("{b:02x}"))
            .collect();
        let map_name = format!("backup-{hash}");
        let mut data = indexmap::IndexMap::new();
        data.insert(SCRIPT_KEY.to_owned(), script);
        let mut docs = vec![serde_json::to_value(Object {
            api_version: "v1",
            kind: "ConfigMap",
            metadata: self.meta_labelled(map_name.clone(), {
                let mut labels = self.project_labels();
                labels.insert("app.kubernetes.io/component".into(), COMPONENT.into());
                labels
            }),
            body: ConfigMapBody { immutable: true, data },
        })?];
        let upload_env: Vec<EnvVar> = credentials
            .map(|c| {
                [
                    ("AWS_ACCESS_KEY_ID", c.access_key_id),
                    ("AWS_SECRET_ACCESS_KEY", c.secret_access_key),
                ]
                .into_iter()
                .map(|(name, v)| EnvVar {
                    name: name.into(),
                    value: None,
                    value_from: Some(self.secret_ref(stack.variable(v))),
                })
                .collect()
            })
            .unwrap_or_default();
        for (job, steps) in &jobs {
            docs.push(self.cron_job(runtime, job, steps, &map_name, &upload_env)?);
            if stack.firewall().default_outgoing != FirewallPolicy::Allow {
                docs.push(self.backup_egress(job, destination_port(b))?);
            }
        }
        Ok(docs)
    }

    fn cron_job(
        &self,
        runtime: &Runtime<'_>,
        job: &BackupJob,
        steps: &Steps,
        map_name: &str,
        upload_env: &[EnvVar],
    ) -> Result<serde_json::Value, RenderError> {
        let stack = self.stack;
        let service = stack.service(job.service);
        let container = runtime.container(job.service);
        // The service's own entries for the variables the dump reads (a `*_FILE` one with its
        // secret file), as its container has them.
        let vars: Vec<EnvRef> = match &job.dump {
            Dump::PgDump { user, password, .. } => std::iter::once(*user).chain(*password).collect(),
            Dump::Mongodump { user, password, .. } | Dump::MinioMirror { user, password, .. } => {
                vec![*user, *password]
            }
            Dump::VolumeArchive { .. } => Vec::new(),
        };
        let keys: Vec<&str> = vars
            .iter()
            .map(|v| match runtime.in_container(*v) {
                InContainer::File(k) | InContainer::Variable(k) => k.as_str(),
            })
            .collect();
        let entries: Vec<_> = container
            .environment
            .iter()
            .filter(|e| keys.contains(&e.key.as_str()))
            .copied()
            .collect();
        let files: Vec<SecretFile<'_>> = entries
            .iter()
            .filter_map(|e| match e.value {
                EnvSource::SecretFile(f) => Some(f),
                _ => None,
            })
            .collect();
        let out = VolumeMount {
            name: "backup-out".into(),
            mount_path: OUT_DIR.into(),
            sub_path: None,
            read_only: false,
            mount_propagation: None,
        };
        let mut dump_mounts = vec![out.clone()];
        let mut volumes = vec![{
            let mut v = Volume::named("backup-out".into());
            v.empty_dir = Some(Empty {});
            v
        }];
        if !files.is_empty() {
            volumes.push(self.secret_volume(&files));
            dump_mounts.push(VolumeMount {
                name: "secrets".into(),
                mount_path: crate::runtime::SECRETS_MOUNT.into(),
                sub_path: None,
                read_only: true,
                mount_propagation: None,
            });
        }
        let mut scripts = Volume::named("scripts".into());
        scripts.config_map = Some(ConfigMapVolume {
            name: map_name.to_owned(),
            items: vec![KeyToPath {
                key: SCRIPT_KEY.into(),
                path: SCRIPT_KEY.into(),
            }],
        });
        volumes.push(scripts);
        // A mirror is staged and packed beside its archive.
        let copies = if steps.pack.is_some() { 2 } else { 1 };
        let mut dump_resources = step_resources("1Gi");
        dump_resources
            .requests
            .insert("ephemeral-storage".into(), super::quantity(job.size * copies));
        let mut affinity = None;
        let mut dump_capabilities = Vec::new();
        if let Some((claim, target)) = &steps.claim {
            let mut data = Volume::named("data".into());
            data.persistent_volume_claim = Some(ClaimSource {
                claim_name: claim.clone(),
                read_only: true,
            });
            volumes.push(data);
            dump_mounts.push(VolumeMount {
                name: "data".into(),
                mount_path: target.clone(),
                sub_path: None,
                read_only: true,
                mount_propagation: None,
            });
            // A ReadWriteOnce claim is mounted on one node at a time: the service pod's.
            affinity = Some(Affinity {
                pod_affinity: PodAffinity {
                    required: vec![AffinityTerm {
                        label_selector: Selector {
                            match_labels: self.selector(service),
                        },
                        topology_key: "kubernetes.io/hostname",
                    }],
                },
            });
            // Reads every file whatever its owner, as Docker's default capabilities let the
            // Compose job's `tar` in the service's container.
            dump_capabilities.push("DAC_READ_SEARCH");
        }
        let mut dump = super::tool_container(
            "dump",
            service.image.to_string(),
            shell(&steps.dump),
            self.env(&entries),
            dump_resources,
            dump_mounts,
        );
        dump.security_context.capabilities.add = dump_capabilities;
        let mut init_containers = vec![dump];
        if let Some(pack) = &steps.pack {
            init_containers.push(super::tool_container(
                "pack",
                self.k8s.wait_image.to_string(),
                shell(pack),
                Vec::new(),
                step_resources("256Mi"),
                vec![out.clone()],
            ));
        }
        let upload = super::tool_container(
            "upload",
            self.k8s.backup_image.to_string(),
            vec![
                "bash".into(),
                format!("{SCRIPTS_DIR}/{SCRIPT_KEY}"),
                job.name.to_string(),
            ],
            upload_env.to_vec(),
            step_resources("512Mi"),
            vec![
                VolumeMount { read_only: true, ..out },
                VolumeMount {
                    name: "scripts".into(),
                    mount_path: SCRIPTS_DIR.into(),
                    sub_path: None,
                    read_only: true,
                    mount_propagation: None,
                },
            ],
        );
        let labels = self.backup_labels(job);
        super::object(
            "batch/v1",
            "CronJob",
            self.meta_labelled(cron_job_name(job), labels.clone()),
            CronJobSpec {
                schedule: job.schedule.to_string(),
                time_zone: "Etc/UTC",
                concurrency_policy: "Forbid",
                starting_deadline_seconds: STARTING_DEADLINE,
                successful_jobs_history_limit: 3,
                failed_jobs_history_limit: 3,
                job_template: JobTemplate {
                    metadata: PodMeta {
                        labels: labels.clone(),
                        annotations: Map::new(),
                    },
                    spec: JobSpec {
                        backoff_limit: RETRIES,
                        active_deadline_seconds: ACTIVE_DEADLINE,
                        template: PodTemplate {
                            metadata: PodMeta {
                                labels,
                                annotations: Map::new(),
                            },
                            spec: PodSpec {
                                automount_service_account_token: false,
                                enable_service_links: false,
                                host_pid: false,
                                termination_grace_period_seconds: None,
                                restart_policy: Some("Never"),
                                affinity,
                                security_context: PodSecurity {
                                    seccomp_profile: Seccomp { kind: "RuntimeDefault" },
                                },
                                topology_spread_constraints: Vec::new(),
                                init_containers,
                                containers: vec![upload],
                                volumes,
                            },
                        },
                    },
                },
            },
        )
    }

    /// The connections a job's pods open when outgoing traffic is denied: its service, and the
    /// destination anywhere.
    fn backup_egress(&self, job: &BackupJob, destination: u16) -> Result<serde_json::Value, RenderError> {
        let stack = self.stack;
        let service = stack.service(job.service);
        let mut egress = Vec::new();
        if let Some(port) = dump_port(stack, job) {
            egress.push(PolicyEgress {
                to: vec![Peer::pods(self.selector(service))],
                ports: super::policy_ports(service, &[port]),
            });
        }
        egress.push(PolicyEgress {
            to: ["0.0.0.0/0", "::/0"].into_iter().map(Peer::addresses).collect(),
            ports: vec![PolicyPort {
                protocol: "TCP",
                port: destination,
            }],
        });
        super::object(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            self.meta_labelled(format!("{}-egress", cron_job_name(job)), self.backup_labels(job)),
            NetworkPolicySpec {
                pod_selector: Selector {
                    match_labels: self.backup_selector(job),
                },
                policy_types: vec!["Egress"],
                ingress: Vec::new(),
                egress,
            },
        )
    }
}

/// Requests and limits of a step: a tenth of a CPU reserved, one at most, and the memory.
fn step_resources(memory: &str) -> ResourceRequirements {
    let mut requests = Map::new();
    requests.insert("cpu".into(), "100m".into());
    requests.insert("memory".into(), "128Mi".into());
    let mut limits = Map::new();
    limits.insert("cpu".into(), "1".into());
    limits.insert("memory".into(), memory.into());
    ResourceRequirements { limits, requests }
}

/// A shell script as a container's command (`$` escaped from Kubernetes' expansion).
fn shell(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), literal(script)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_destination_port_is_the_urls_or_its_schemes() {
        for (url, port) in [
            ("https://s3.eu-central-003.backblazeb2.com", 443),
            ("http://minio.internal", 80),
            ("http://127.0.0.1:5000", 5000),
            ("https://s3.example.com:8443/prefix", 8443),
            ("http://[::1]:9000", 9000),
            ("https://[2001:db8::1]/x", 443),
        ] {
            assert_eq!(url_port(url), port, "{url}");
        }
    }

    #[test]
    fn pg_passfile_escapes_what_libpq_reads_as_separators() {
        // The script as sh runs it: a password with `:` and `\` comes out escaped.
        let script = format!("pw='a:b\\c'; {PG_PASSFILE}; cat \"$pass\"");
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap_or_else(|e| panic!("sh: {e}"));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "*:*:*:*:a\\:b\\\\c\n");
    }
}
