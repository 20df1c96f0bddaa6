//! Every rule a spec is checked against, as data.
//!
//! A [`Rule`] has a stable kebab-case id (what `error[id]` prints, what CI output and per-rule
//! allow lists name), a default severity, a one-line summary and an explanation that says why
//! the rule exists and how to fix a spec that breaks it. `docs/rules.md` is generated from this
//! table (`cargo xtask rules`), and a test fails when a rule has no fixture in
//! `vutler-spec/tests/fixtures/invalid/` that produces it.

use std::fmt;

use crate::diagnostic::Severity;

macro_rules! rules {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $id:literal, $severity:ident, $summary:literal, $explanation:literal;
    )*) => {
        /// A rule of the model: one kind of problem a spec can have.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum Rule {
            $($(#[$doc])* $variant,)*
        }

        impl Rule {
            /// Every rule, in the order of the rules page.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant,)*];

            /// The stable id, e.g. `dangling-ref`.
            pub fn id(self) -> &'static str {
                match self {
                    $(Rule::$variant => $id,)*
                }
            }

            /// The severity a problem of this rule has unless configured otherwise.
            pub fn default_severity(self) -> Severity {
                match self {
                    $(Rule::$variant => Severity::$severity,)*
                }
            }

            /// What the rule checks, in one line.
            pub fn summary(self) -> &'static str {
                match self {
                    $(Rule::$variant => $summary,)*
                }
            }

            /// Why the rule exists and how to fix a spec that breaks it.
            pub fn explanation(self) -> &'static str {
                match self {
                    $(Rule::$variant => $explanation,)*
                }
            }
        }
    };
}

rules! {
    // Reading and merging the files.

    /// A spec file or folder cannot be read.
    Io = "io", Error,
        "A spec folder, file or environment cannot be read.",
        "The spec folder holds `base/*.{yaml,yml,toml}` (at least one file) and one overlay \
         `env/<env>.{yaml,yml,toml}` per environment. Check the folder given to `--spec`, the \
         environment name (the message lists the known ones) and the files' permissions.";
    /// An environment with no overlay file, or with several.
    UnknownEnv = "unknown-env", Error,
        "The environment given has no overlay file in the spec folder's `env/`, or several.",
        "Each environment is one overlay file, `env/<env>.yaml` (or `.yml`, `.toml`). The message \
         lists the environments the folder defines and the closest one; give one of those to \
         `--env`, or add the overlay (an empty one is enough for an environment that changes \
         nothing). With several overlays of one name (`prod.yaml` and `prod.toml`), keep one.";
    /// YAML or TOML syntax error.
    Syntax = "syntax", Error,
        "A file is not valid YAML or TOML.",
        "The parser stopped at the position shown. A spec file holds one YAML document (no \
         second `---`), no tags (`!tag`) and no duplicate keys; an alias (`*x`) copies the value \
         of its anchor (`&x`). Fix the syntax at that position.";
    /// Wrong type or missing key.
    Type = "type", Error,
        "A value has the wrong type, or a required key is missing.",
        "Each key of the spec has a type (see `specs/vutler-spec.schema.json`, which editors use \
         for completion). Write the value in the expected form, or add the missing key.";
    /// A key the spec does not know.
    UnknownKey = "unknown-key", Error,
        "A key the spec does not know.",
        "Unknown keys are errors rather than silently ignored, so a typo never goes unnoticed. \
         The message lists the keys allowed there and suggests the closest one.";
    /// An entry defined in two base files.
    DuplicateDefinition = "duplicate-definition", Error,
        "An entry is defined in two base files.",
        "Base files may split a section (`services`, `volumes`) between them, but each entry and \
         each top-level value is defined in exactly one file. Define it once; changes for one \
         environment go in its overlay.";
    /// An overlay that cannot be applied.
    Overlay = "overlay", Error,
        "An overlay cannot be applied as written.",
        "`{ $remove: true }` removes an entry inherited from the base and must be alone in its \
         entry (besides `name` in a named list); removing an entry the base does not define, or \
         an empty value that would silently drop an inherited one, is refused. Write the new \
         value, or remove the entry explicitly.";

    // Values.

    /// Two entries share what must be unique.
    Duplicate = "duplicate", Error,
        "Two entries share a name, uid, target or value that must be unique.",
        "Port names of a service, alert names, Grafana uids, mount targets, container names, \
         dependencies, routed severities and the variables of a container's environment \
         (`file_env` names included) are each unique. Rename or remove one of them.";
    /// A value outside its strict grammar.
    Grammar = "grammar", Error,
        "A value does not follow its strict grammar.",
        "Values that reach NGINX directives, shell scripts and YAML keys (names, domains, paths, \
         image references, cipher names, URLs, free text) follow grammars narrower than what the \
         consuming programs accept, so that no spec value can inject a directive or a command. \
         The message says what was expected.";
    /// An image without a pinned tag.
    ImageTag = "image-tag", Error,
        "An image has no tag, or uses `latest`.",
        "`latest` (or no tag, which means `latest`) makes a deployment unreproducible: the same \
         spec would run different software on different days. Pin a released version, e.g. \
         `postgres:16.4-alpine`.";
    /// A number outside the range its field accepts.
    OutOfRange = "out-of-range", Error,
        "A number is outside the range its field accepts.",
        "Ports are 1 to 65535, replicas, healthcheck retries and kept log files at least 1, a \
         scale-out plan at least the service's own replicas, a disk usage limit 1 to 99 percent, \
         and a cost range's `max` at least its `min`.";
    /// Exactly one of several keys is needed.
    ExactlyOneOf = "exactly-one-of", Error,
        "A value needs exactly one of several keys.",
        "A mount is one of `volume`, `bind` or `config`; a healthcheck runs one of `exec` (a \
         non-empty list) or `shell`. Keep exactly one.";
    /// A list that needs an entry is empty.
    EmptyList = "empty-list", Error,
        "A list that needs at least one entry is empty.",
        "A panel shows at least one query, a route notifies at least one receiver, and a \
         migration command has at least one word. Add an entry, or remove the list's owner.";
    /// A malformed unit.
    Unit = "unit", Error,
        "A size, duration or CPU count cannot be read.",
        "Units are parsed once: CPUs as `0.5` or `2`, sizes as `512MB` or `4GB`, durations as \
         `30s`, `5m`, `26h` or `30d`; backup retentions are whole days, and the timeouts NGINX \
         reads whole seconds.";
    /// A fraction where text is meant.
    FloatAsText = "float-as-text", Error,
        "A number with a fraction is used as text.",
        "YAML and TOML read `3.10` as the number 3.1, so a value meant as text (a version, an \
         environment value) would lose how it was written. Quote it: `\"3.10\"`.";
    /// A cron schedule that cannot be read.
    Cron = "cron", Error,
        "A schedule is not a crontab schedule.",
        "Backup schedules are written for `/etc/cron.d`: five fields (minute 0-59, hour 0-23, \
         day of month 1-31, month 1-12, day of week 0-7) or a nickname like `@daily`, without \
         the seconds or `?`/`L`/`W` extensions some schedulers accept.";
    /// A reference to something that does not exist.
    DanglingRef = "dangling-ref", Error,
        "A reference names something the spec does not define.",
        "Every reference resolves: services in `depends_on`, edge and monitoring; volumes and \
         networks; variables and secrets; ports by name; receivers, datasources and the target \
         VM. The message suggests the closest name, or lists the known ones.";

    // Variables and secrets.

    /// `DOMAIN` or `PROJECT` declared as a variable.
    BuiltinVariable = "builtin-variable", Error,
        "A variable the spec provides itself is declared.",
        "`${DOMAIN}` and `${PROJECT}` are filled in from the spec's own `domain` and `project`. \
         Remove the declaration from `variables`.";
    /// A secret written as a literal.
    SecretLiteral = "secret-literal", Error,
        "A secret is written as a literal value in the spec.",
        "No secret value is ever in a spec or in a rendered file. A secret variable has no \
         `default`, its `example` is a `<placeholder>`, and a secret-looking environment key \
         (`*PASSWORD*`, `*TOKEN*`, `*_KEY`, ...) takes `{ secret: VAR }`, not text. Declare a \
         secret variable and set its value in the deployment's `.env` or secret files.";
    /// A secret used as plain text.
    SecretAsText = "secret-as-text", Error,
        "A secret variable is used where plain text goes.",
        "Interpolating a secret into plain text or using it as an image tag would write it \
         where secrets are not protected. Pass it as `{ secret: VAR }`; text that must hold a \
         secret, such as a connection string with its password, is written \
         `{ with_secrets: \"postgres://u:${DB_PASSWORD}@db/app\" }` and rendered as references \
         that Compose fills in from `.env`.";
    /// A client of an authenticating service without its credentials.
    ClientCredentials = "client-credentials", Error,
        "A service connects to one that enforces authentication without presenting its credentials.",
        "A service with `authentication` refuses clients without its password (MongoDB started \
         with a root user, PostgreSQL with a password). Every service that depends on it or \
         names it as a host in its environment must pass the secret variables of its \
         `user_env` (when secret) and `password_env`: as `{ secret: VAR }`, or inside its \
         connection string with `{ with_secrets: \"...:${VAR}@host...\" }`.";
    /// An `authentication` without the fields its rotation needs.
    RotationFields = "rotation-fields", Error,
        "An `authentication` lacks a field its rotation needs, or sets one it ignores.",
        "`scripts/secrets.sh rotate` changes the password where the server keeps it. `mongodb` \
         logs in as `user_env` with the current password to change it, so it needs `user_env`; \
         `grafana` changes the admin user's password and takes no `user_env`; `postgresql` \
         logs in as `user_env` (else `postgres`); `restart` takes either.";
    /// A rotation age with no metric to watch it.
    SecretsUnwatched = "secrets-unwatched", Warning,
        "`operations.rotate_secrets_after` is set, but no scrape job lists the secrets' metric.",
        "`scripts/secrets.sh` records when each secret was rotated as \
         `vutler_secret_rotated_timestamp_seconds`, in the folder node-exporter's textfile \
         collector reads (`backups.textfile_dir`); the `SecretRotationDue` alert needs the \
         node-exporter job to list it. List the metric, or remove `rotate_secrets_after`.";
    /// A credential that names a plain variable.
    CredentialNotSecret = "credential-not-secret", Error,
        "A credential names a variable that is not a secret.",
        "`{ secret: VAR }`, receiver credentials and the backup destination's credentials must \
         name variables declared `secret: true`, so that their values are never rendered. Set \
         `secret: true` on the variable, or pass a plain variable as `${VAR}`.";

    // Services.

    /// The image tag and its tag variable's default differ.
    TagVariableDefault = "tag-variable-default", Error,
        "An image's tag differs from the default of its tag variable.",
        "The tag in `image` is what runs when `.env` does not set the tag variable: it must be \
         the variable's `default`, or the spec would say two things about the version.";
    /// `host_ip` without `published`.
    HostIpUnpublished = "host-ip-unpublished", Error,
        "A port sets `host_ip` but is not published.",
        "`host_ip` is the host address a published port binds to; without `published` it has no \
         effect. Publish the port, or remove `host_ip`.";
    /// A service on no network.
    NoNetwork = "no-network", Error,
        "A service joins no network.",
        "Every service joins at least one network of `networks`, its own or \
         `defaults.networks`.";
    /// A service without log rotation.
    NoLogging = "no-logging", Error,
        "A service has no log settings and there are no defaults.",
        "Logs are rotated on every service (seed 5.4). Set `defaults.logging`, or `logging` on \
         the service.";
    /// A service without resources outside dev.
    Limits = "limits", Error,
        "A service has no resources outside a development environment.",
        "Every service is sized: its limits keep one service from starving the others and its \
         totals are checked against the VM. Add `resources: { cpus, memory, disk }`. Only an \
         environment of `kind: development` (by default `dev`, `development` or `local`) may go \
         without.";
    /// A datastore configured to use too much of its memory limit.
    MemorySetting = "memory-setting", Error,
        "A datastore is configured to use more of its container's memory than leaves it room.",
        "A datastore's own memory setting must stay well under the container's limit, or the \
         kernel kills it under load: Redis's `--maxmemory` at most 75% of the limit (the rest is \
         fragmentation and the fork that persists it), MongoDB's `--wiredTigerCacheSizeGB` at \
         most half of the limit less 1GB (MongoDB's own default), PostgreSQL's `shared_buffers` \
         at most 25% (each connection needs memory too). Lower the setting or raise the limit.";
    /// A service that keeps data and is killed 10s after SIGTERM.
    StopGracePeriod = "stop-grace-period", Warning,
        "A service that keeps data has less than 30s to stop.",
        "Docker kills a container 10s after asking it to stop, unless `stop_grace_period` says \
         otherwise; a database flushing to disk may need longer. Give services that write a data \
         volume `stop_grace_period: 1m`.";
    /// `service_healthy` on a service without healthcheck.
    NoHealthcheck = "no-healthcheck", Error,
        "A service waits for a dependency that has no healthcheck to be healthy.",
        "`condition: service_healthy` (the default) waits for the dependency's healthcheck, so \
         without one the dependent service never starts. Give the dependency a healthcheck, or \
         depend on it with `condition: service_started`.";
    /// `container_name` with replicas.
    ContainerNameReplicas = "container-name-replicas", Error,
        "A replicated service has a fixed container name.",
        "Container names are unique, so `container_name` makes more than one replica (its own \
         `replicas` or a scale-out plan) impossible. Remove `container_name`.";
    /// A `depends_on` cycle.
    DependsOnCycle = "depends-on-cycle", Error,
        "Services depend on each other in a cycle.",
        "A service cannot start before itself. Remove one of the dependencies of the cycle.";
    /// A host port published twice.
    PortCollision = "port-collision", Error,
        "A host port is published twice, or by a replicated service.",
        "A host port can be bound once. Replicas of one service would all bind it: reach them \
         through the proxy instead of publishing the port.";
    /// A `config:` mount of a file nothing renders.
    ConfigMountUnknown = "config-mount-unknown", Error,
        "A `config:` mount names no file vutler-render renders.",
        "A `config:` mount names a rendered file (`nginx/nginx.conf`) or a folder of them \
         (`grafana/provisioning`), whose hash recreates the container when it changes. The \
         message suggests the closest rendered path.";

    // Edge, TLS and firewall.

    /// A public port on another service than the proxy.
    PublicPortNotProxy = "public-port-not-proxy", Error,
        "A service other than the proxy publishes a port on a public interface.",
        "Docker publishes ports through its own iptables chain, past ufw: `ufw deny` does not \
         protect them. Only the proxy listens publicly, and ports that say so (`public: true`, \
         a Git server's SSH), each allowed by the firewall. Remove `host_ip` to bind 127.0.0.1, \
         stop publishing the port, or mark it `public: true` and allow it.";
    /// A public port the firewall does not open.
    PublicPortNotAllowed = "public-port-not-allowed", Error,
        "The proxy publishes a public port the firewall does not allow.",
        "Docker would open the port past ufw, so the firewall policy would not say what is \
         reachable. Add it to `firewall.allow`, or bind it to 127.0.0.1.";
    /// Proxy and upstream on different networks.
    ProxyNetwork = "proxy-network", Error,
        "The proxy and its upstream share no network.",
        "The proxy reaches the upstream by its service name on a shared Docker network. Put both \
         on one network.";
    /// The proxy does not publish 80 and 443.
    ProxyPorts = "proxy-ports", Error,
        "The proxy does not publish its container ports 80 and 443.",
        "NGINX listens on 80 (ACME challenges, the redirect to HTTPS) and 443 (TLS). Publish \
         both, e.g. `{ name: https, container: 443, published: 443, host_ip: 0.0.0.0 }`.";
    /// The proxy does not wait for its upstream.
    ProxyWaits = "proxy-waits", Error,
        "The proxy does not wait for its upstream to be healthy (started, without a healthcheck).",
        "NGINX resolves the upstream's address when it starts; started first, it fails or keeps \
         a stale address, and started before the upstream is healthy it answers 502. Add the \
         upstream to the proxy's `depends_on`: `service_healthy`, or `service_started` for an \
         upstream without a healthcheck.";
    /// The certificate folder is not mounted into the proxy.
    CertificateNotMounted = "certificate-not-mounted", Error,
        "The proxy does not mount the certificate folder it reads.",
        "NGINX reads `tls.certificate.mount_dir`, which must be a bind mount of \
         `tls.certificate.host_dir` on the proxy. Add `{ bind: <host_dir>, target: <mount_dir>, \
         read_only: true }`.";
    /// The ACME webroot is not mounted into the proxy.
    AcmeRootNotMounted = "acme-root-not-mounted", Error,
        "Let's Encrypt challenges are served from a folder the proxy does not mount.",
        "With a Let's Encrypt certificate, NGINX answers HTTP-01 challenges from \
         `edge.acme_root`, which must be mounted (the certbot webroot).";
    /// A certificate without the client that renews it.
    AcmeClient = "acme-client", Error,
        "A Let's Encrypt certificate has no ACME client, or a self-signed one has one.",
        "`scripts/certificates.sh` obtains and renews a Let's Encrypt certificate with the ACME \
         client of `tls.certificate.acme` (certbot in a one-off container), which writes the \
         HTTP-01 challenge files into the host folder the proxy serves at `edge.acme_root`: \
         declare the client, and bind-mount that folder into the proxy. A self-signed \
         certificate is made on the host and takes no `acme`.";
    /// A proxy read timeout that closes WebSockets.
    ReadTimeout = "read-timeout", Error,
        "The proxy's read timeout closes idle WebSockets.",
        "WebSocket connections are idle for long stretches: with `edge.websockets: true`, \
         `edge.read_timeout` is at least 60s.";
    /// An unsupported TLS protocol.
    TlsProtocol = "tls-protocol", Error,
        "TLS offers a protocol other than TLSv1.2 and TLSv1.3, or none.",
        "Older protocols are broken (RFC 8996). Offer TLSv1.2 and/or TLSv1.3.";
    /// TLSv1.2 without ciphers.
    TlsCiphers = "tls-ciphers", Error,
        "TLSv1.2 is offered without a cipher list.",
        "TLSv1.2's cipher suites are chosen in the spec (TLSv1.3's are not configurable in \
         NGINX). List them in `tls.ciphers`, or offer TLSv1.3 only.";
    /// OCSP stapling with a self-signed certificate.
    TlsStapling = "tls-stapling", Error,
        "OCSP stapling is on for a certificate whose issuer has no OCSP responder.",
        "Stapling sends the CA's OCSP answer along with the certificate. A self-signed \
         certificate has no responder, and Let's Encrypt ended OCSP in 2025 (its certificates no \
         longer name a responder), so NGINX would only log warnings. Set `stapling: false`.";
    /// A proxy image whose tag does not say the NGINX version.
    ProxyVersion = "proxy-version", Error,
        "The proxy's image tag does not start with the NGINX version.",
        "The NGINX configuration is written in the syntax of the version deployed (`http2 on;` \
         from 1.25, `listen 443 ssl http2` before), read from the proxy's image tag. Pin a tag \
         that starts with the version, e.g. `nginx:1.27-alpine`.";
    /// A port both allowed and denied.
    FirewallConflict = "firewall-conflict", Error,
        "The firewall both allows and denies a port.",
        "A port is either opened (`firewall.allow`) or documented as closed \
         (`firewall.deny`). Remove it from one of the lists.";

    // Monitoring.

    /// Invalid PromQL.
    Promql = "promql", Error,
        "An alert expression or panel query is not valid PromQL (or, on a Loki datasource, LogQL).",
        "Expressions are parsed as PromQL when the spec is checked, so Prometheus and Grafana \
         never receive one they reject; a query of a Loki datasource must start with a well-formed \
         stream selector (`{label=\"value\", ...}`). Fix the expression at the position the \
         message gives.";
    /// A `job=` matcher that names no scrape job.
    UnknownJob = "unknown-job", Error,
        "An expression selects a job that is not a scrape job.",
        "A `job=\"...\"` matcher must name a job of `monitoring.scrape_jobs`; otherwise the \
         expression never returns anything and its alert never fires.";
    /// A metric no job scrapes.
    UnknownMetric = "unknown-metric", Error,
        "An expression uses a metric that no scrape job produces.",
        "Every metric an alert or panel reads is listed by the scrape job that exports it \
         (`scrape_jobs.*.metrics`), and by the job its `job=` matcher selects. A typo in a \
         metric name would otherwise be an alert that never fires.";
    /// A command on the Prometheus service.
    PrometheusCommand = "prometheus-command", Error,
        "The Prometheus service sets its own command.",
        "Prometheus's command line is rendered from the model (its configuration, its storage, \
         `monitoring.retention`). Remove `command`; set `monitoring.retention` instead.";
    /// Prometheus does not mount its rendered configuration.
    PrometheusConfigNotMounted = "prometheus-config-not-mounted", Error,
        "The Prometheus service does not mount its configuration and rules side by side.",
        "Prometheus is started with the rendered `prometheus/prometheus.yml`, which loads \
         `alerts.yml` relative to itself. Mount both with `config:` mounts into one folder, e.g. \
         `/etc/prometheus/prometheus.yml` and `/etc/prometheus/alerts.yml`.";
    /// Prometheus without one storage volume.
    PrometheusStorage = "prometheus-storage", Error,
        "The Prometheus service does not mount exactly one volume for its data.",
        "Prometheus keeps `monitoring.retention` of data in the volume it mounts; without one \
         the data is lost when the container is recreated, and with several it is not clear \
         which holds it. Mount one named volume, e.g. `{ volume: prometheus-data, target: \
         /prometheus }`.";
    /// Grafana does not mount the dashboards.
    GrafanaDashboardsNotMounted = "grafana-dashboards-not-mounted", Error,
        "The stack has dashboards, but Grafana does not mount them.",
        "Grafana's dashboard provider reads the folder the rendered `grafana/dashboards` is \
         mounted at. Add `{ config: grafana/dashboards, target: /etc/grafana/dashboards }` to \
         the Grafana service.";
    /// Several default datasources.
    DefaultDatasource = "default-datasource", Error,
        "More than one datasource is Grafana's default.",
        "Grafana has one default datasource. Set `default: true` on one of them only.";

    // Backups and operations.

    /// A backup job with fields its method does not read, or without those it needs.
    BackupMethodFields = "backup-method-fields", Error,
        "A backup job lacks a field its method needs, or sets one it ignores.",
        "Each method reads its own fields: `pg_dump` needs `database` and `user_env`; \
         `mongodump` needs `user_env` and `password_env` (and may name a `database`); \
         `minio_mirror` needs `user_env`, `password_env` and the S3 API `port`.";
    /// A job keeps backups on the host longer than in the object store.
    BackupRetention = "backup-retention", Error,
        "A backup job keeps local copies longer than uploaded ones.",
        "The object store holds the copies that survive the host: keep them at least as long \
         as the local ones (`retention: { local: 3d, remote: 30d }`). Local copies count against \
         the VM's disk (`plan` shows them).";
    /// A KMS key without KMS encryption.
    BackupEncryption = "backup-encryption", Error,
        "`backups.s3.kms_key_id` is set without `server_side_encryption: aws:kms`.",
        "Only SSE-KMS uses a KMS key: set `server_side_encryption: aws:kms`, or remove \
         `kms_key_id` to let the bucket encrypt with S3-managed keys (`AES256`).";
    /// A cipher that is weak or no single cipher.
    TlsWeakCipher = "tls-weak-cipher", Error,
        "A TLS cipher is weak, or is a keyword standing for many.",
        "List the TLSv1.2 suites by name, each with forward secrecy and an AEAD mode \
         (`ECDHE-ECDSA-AES128-GCM-SHA256`, `ECDHE-RSA-CHACHA20-POLY1305`). Keywords such as `ALL` \
         or `DEFAULT` stand for many suites, weak ones among them; suites without \
         authentication or encryption (`aNULL`, `eNULL`, `NULL-MD5`), export-grade, RC4, DES, \
         3DES and MD5 ones are broken.";
    /// A firewall that would lock operators out.
    FirewallSsh = "firewall-ssh", Error,
        "The firewall denies incoming traffic but does not open the SSH port.",
        "`ufw.sh` enables the default policy: on a remote VM without an `allow` rule for its SSH \
         port (`firewall.ssh_port`, 22 by default, TCP), the operator running it loses the \
         connection and cannot come back. Add `{ name: ssh, port: 22 }` to `firewall.allow`, or set \
         `firewall.no_ssh: true` for a VM managed another way (a cloud console).";
    /// A receiver's fields that do not go together.
    ReceiverFields = "receiver-fields", Error,
        "A receiver's fields do not go together.",
        "An email receiver's SMTP login is `auth_username` with `auth_password_secret` (the secret \
         variable of its password): give both, or neither for a server that takes mail without a \
         login.";
    /// A method or rotation for another datastore than the service runs.
    DatastoreKind = "datastore-kind", Error,
        "A backup method or a password rotation is for another datastore than the service runs.",
        "`pg_dump` and the `postgresql` rotation need PostgreSQL, `mongodump` and the `mongodb` \
         rotation MongoDB, `minio_mirror` MinIO. What a service runs is read from its image \
         (`postgres`, `postgis/postgis`, `mongo`, `minio/minio` ...); for an image of another \
         name, say it with `datastore:` on the service. Otherwise choose the method of what it \
         runs.";
    /// A program that does not see its rendered configuration.
    ConfigNotMounted = "config-not-mounted", Error,
        "A service does not mount its rendered configuration where its program reads it.",
        "NGINX reads `/etc/nginx/nginx.conf`, Alertmanager `/etc/alertmanager/alertmanager.yml` and \
         Grafana its provisioning from `/etc/grafana/provisioning`. Without the `config:` mount \
         there, the container silently runs the image's default configuration, and nothing the \
         spec says about the edge, the receivers or the datasources applies. Mount the rendered \
         file (or its folder) there.";
    /// One service in two roles.
    RoleConflict = "role-conflict", Error,
        "One service is named for two roles (proxy, upstream, Prometheus, Alertmanager, Grafana).",
        "Each role replaces or renders the service's configuration and command: the app named as \
         `monitoring.prometheus` would be started with Prometheus's flags. Give each role its own \
         service.";
    /// A critical service nothing watches.
    CriticalUnwatched = "critical-unwatched", Warning,
        "A service is `critical: true`, but no scrape job watches it, so no alert says it is down.",
        "The down and absent alerts of a critical service are derived from the scrape jobs that \
         watch it (`service:` or `monitors:`). Add a scrape job for it (an exporter's job with \
         `monitors:` for a datastore), or drop `critical`.";
    /// A metrics path that hides the app.
    MetricsPathPublic = "metrics-path-public", Error,
        "The app's metrics path would hide the app behind the proxy.",
        "The proxy answers 404 on the app's metrics path and everything under it, so that the \
         metrics stay on the internal network. The root `/` would hide the whole app, and a path \
         above the public routes (`/api` for an app whose `operations.verify_path` is \
         `/api/info`) hides them with it. Serve the metrics on a path of their own (`/metrics`).";
    /// WAL archiving that cannot be rendered as asked.
    WalArchive = "wal-archive", Error,
        "A backup job's `rpo` cannot be met or rendered.",
        "PostgreSQL archives its WAL into the job's volume beside `PGDATA`, which must therefore \
         be a folder inside that volume (`/var/lib/postgresql/data/pgdata` for a volume mounted at \
         `/var/lib/postgresql/data`); the archive settings are rendered from `rpo`, so the \
         service's command does not set them; and the archive is shipped every minute, so an \
         `rpo` under 2 minutes cannot be met.";
    /// A backup job's volume is not mounted by its service.
    BackupVolumeNotMounted = "backup-volume-not-mounted", Error,
        "A backup job's service does not mount the job's volume.",
        "A job dumps the data its service keeps in its volume. Name the volume the service \
         mounts, or the service that mounts it.";
    /// A data volume without backups.
    DataVolumeWithoutBackup = "data-volume-without-backup", Warning,
        "A data volume has no backup job.",
        "A volume of `kind: data` holds what cannot be rebuilt. Add a job under `backups.jobs`, \
         or set `kind: cache` if its content can be rebuilt.";
    /// Backups nothing watches.
    BackupsUnwatched = "backups-unwatched", Warning,
        "No scrape job reports the backups' success, so failed or stale backups raise no alert.",
        "`backup.sh` records each success as a metric for node-exporter's textfile collector. \
         List the metric under the node-exporter scrape job and set `backups.textfile_dir`.";
    /// The backup metric is scraped but not written anywhere.
    TextfileDirUnset = "textfile-dir-unset", Error,
        "The backup metric is scraped, but `backups.textfile_dir` does not say where it is written.",
        "Set `backups.textfile_dir` to the host folder of node-exporter's textfile collector.";
    /// The textfile folder is not mounted into the exporter.
    TextfileDirNotMounted = "textfile-dir-not-mounted", Error,
        "The exporter of the backup metric does not mount `backups.textfile_dir`.",
        "node-exporter reads the metric from a host folder it bind-mounts. Mount the folder (or \
         one of its parents, e.g. `/` at `/host`) into the exporter.";
    /// The exporter does not read the textfile folder.
    TextfileDirNotRead = "textfile-dir-not-read", Error,
        "The exporter mounts `backups.textfile_dir` but does not read metrics from it.",
        "Add `--collector.textfile.directory=<the folder in the container>` to the exporter's \
         command.";
    /// An `allow` entry that names no rule, names an error, or gives no reason.
    AllowList = "allow-list", Error,
        "An `allow` entry names no rule, names an error, or gives no reason.",
        "`allow` accepts warnings on purpose, each with the reason a reader of the spec needs \
         (`data-volume-without-backup: the volume is a replica`). An error cannot be allowed: the \
         rendered files rely on the stack being free of them. Name a warning's rule id (see this \
         page) and say why.";
    /// Alert rules with no Alertmanager to send them.
    AlertsUnsent = "alerts-unsent", Warning,
        "Alert rules would fire, but the stack has no Alertmanager to send them.",
        "Without `monitoring.alertmanager` Prometheus evaluates the alert rules (the spec's and \
         the down alerts of critical services) and lists those firing on its alerts page, but \
         nobody is told. Add `monitoring.alertmanager` with a receiver, or drop the rules.";
    /// A Kubernetes version the manifests are not written for.
    KubernetesVersion = "kubernetes-version", Error,
        "`platform.kubernetes.version` is not a minor version the manifests are written for.",
        "The manifests use only APIs every supported version serves (apps/v1, autoscaling/v2, \
         policy/v1, networking.k8s.io/v1, batch/v1 with CronJob's `timeZone`, GA in 1.27) and \
         are checked against the schemas of 1.27 to 1.37. Give the cluster's minor version as a \
         quoted string (`\"1.30\"`): unquoted, YAML reads `1.30` as the number 1.3.";
    /// A name Kubernetes refuses.
    KubernetesName = "kubernetes-name", Error,
        "A name that becomes a Kubernetes object's name is not a DNS label.",
        "Namespaces, Services, workloads, claims and classes are named by DNS-1123 labels: \
         lowercase letters, digits and inner `-`, 63 at most. The spec's names also allow `_`, \
         which Kubernetes refuses; rename the service, volume or setting.";
    /// A data volume without a claim, or a claim of another kind of volume.
    KubernetesClaim = "kubernetes-claim", Error,
        "A `data` volume a workload mounts has no claim, or a claim names a volume that is not `data`.",
        "On Kubernetes a `data` volume is a persistent volume claim of the StatefulSet that \
         mounts it, sized in `platform.kubernetes.volumes.<volume>.size` (a cluster has no \
         default size). Other volumes (`cache`, `logs`, `backup`) are `emptyDir`s, which live \
         as long as the pod: give them no claim.";
    /// A data volume that several pods would share.
    KubernetesSharedClaim = "kubernetes-shared-claim", Error,
        "A `data` volume is mounted by several services, or by a service with more than one replica.",
        "Claims are ReadWriteOnce: one node, and on Kubernetes one pod, since a StatefulSet \
         gives each replica a claim of its own rather than a shared volume. A service that keeps \
         data runs one replica (scale a datastore through its own replication), and each service \
         has its own data volume.";
    /// A bind mount of the deployment folder in a Kubernetes environment.
    KubernetesBindMount = "kubernetes-bind-mount", Error,
        "A service bind-mounts a path of the deployment folder, which a cluster's nodes do not have.",
        "`./` paths are the checkout of a Compose deployment. On Kubernetes, files come from \
         rendered ConfigMaps (`config:` mounts), Secrets or volumes; an absolute host path (a \
         node agent's `/`) is a `hostPath`. Drop the mount in the Kubernetes overlay.";
    /// Requests above limits, or an autoscaler without CPU requests.
    KubernetesRequests = "kubernetes-requests", Error,
        "A service requests more than its limits, or an autoscaler scales on CPU requests it lacks.",
        "`platform.kubernetes.services.<service>.requests` is what the scheduler reserves; \
         Kubernetes refuses a request above the limit (the service's `resources`). Requests \
         default to the limits. An autoscaler keeps CPU use at a share of the requests, so its \
         service needs them.";
    /// An autoscaler beside another owner of the replicas.
    KubernetesAutoscaling = "kubernetes-autoscaling", Error,
        "Scheduling settings name a service the cluster does not run (the proxy, or a Prometheus an operator replaces).",
        "The Ingress controller (or Gateway) takes the proxy's place on Kubernetes, and a \
         prometheus-operator's Prometheus that of `monitoring.prometheus`, so neither has a \
         workload to schedule or scale. An autoscaler owns the replicas of its workload (which \
         then has no `replicas`), from those the service runs without it (`scaling`, else \
         `replicas`) up to `max`.";
    /// A plain variable without a value in a Kubernetes environment.
    KubernetesVariable = "kubernetes-variable", Error,
        "A workload reads a required variable that has no value in the spec.",
        "A Compose deployment reads plain variables from `.env`; a cluster has none, so their \
         values are the spec's `default`s, rendered into the manifests (and a change rolls the \
         pods). Give the variable a `default` in the Kubernetes overlay. Secrets are Secrets, \
         created by `k8s/secrets.sh`.";
    /// Requests the node pool cannot hold.
    KubernetesCapacity = "kubernetes-capacity", Error,
        "The pods request more than the nodes of `platform.kubernetes.nodes` have.",
        "The scheduler places a pod only on a node with its requests free, so every pod must fit \
         one node, and all of them the pool: with the fewest pods and with every autoscaler at \
         its `max` (else it cannot scale). A node agent runs one pod per node. Add nodes, pick a \
         larger VM size for them, or lower the requests; `vutler-render plan` shows every \
         figure.";
    /// A backup job with an RPO, which the Kubernetes manifests meet with dumps only.
    KubernetesBackups = "kubernetes-backups", Warning,
        "A Kubernetes environment has a backup job with an RPO, which holds on Compose only.",
        "On Compose, PostgreSQL archives its WAL beside PGDATA and `scripts/backup.sh --wal` \
         ships it every minute, which gives a job's `rpo`. On Kubernetes each job is a CronJob \
         taking the same dumps, but the manifests leave WAL archiving off (nothing in the pod \
         would ship or prune the archive), so the recovery point is the last dump. Allow the \
         warning with why daily recovery points do on the cluster.";
    /// A backup job that cannot run as a CronJob.
    KubernetesBackupJob = "kubernetes-backup-job", Error,
        "A backup job cannot run as a Kubernetes CronJob.",
        "On Kubernetes each backup job is a CronJob whose pod dumps its service over the network \
         (the service's Kubernetes Service), then checks and uploads the dump as \
         `scripts/backup.sh` does. `pg_dump` then needs `password_env` (Compose's dump uses the \
         container's local socket, which needs none), and a dump a TCP port of its service. \
         `volume_archive` reads the volume's claim, read-only, from a pod on the node of the \
         service's pod (a ReadWriteOnce claim is mounted on one node): the volume must be a \
         `data` volume, which has a claim.";
    /// No way into the cluster, or two.
    KubernetesEdge = "kubernetes-edge", Error,
        "`platform.kubernetes` gives neither `ingress` nor `gateway`, or both.",
        "A Kubernetes environment routes its domain to the upstream of `edge` one way: an \
         Ingress (`ingress: { class, tls_secret }`, with ingress-nginx's annotations for the \
         body size, timeouts and sticky sessions) or a Gateway API Gateway with its HTTPRoutes \
         (`gateway: { class, tls_secret, controller_namespace }`, for an implementation of the \
         Gateway API 1.2 or later). Give exactly one.";
    /// Sticky sessions through a Gateway API route.
    KubernetesGatewaySticky = "kubernetes-gateway-sticky", Error,
        "The upstream's scale plan asks for sticky sessions, which a Gateway API route cannot give.",
        "Session persistence is not in the Gateway API's standard channel (GEP-1619 is \
         experimental and its API is still moving), so a portable HTTPRoute spreads a client's \
         requests over every replica, and an app keeping sessions in its process breaks. Route \
         with `ingress` (ingress-nginx's cookie affinity), or let the replicas share their \
         sessions and drop `sticky_sessions` in the overlay.";
    /// A body size limit a Gateway API route cannot carry.
    KubernetesGatewayBodySize = "kubernetes-gateway-body-size", Warning,
        "The Gateway API has no field for `edge.max_body_size`.",
        "NGINX (and the Ingress, by annotation) refuses bodies above `edge.max_body_size`; an \
         HTTPRoute cannot say it, so the implementation's default applies: none for some, 1 MB \
         for NGINX Gateway Fabric, which breaks uploads. Set the limit in the implementation's \
         policy for the rendered Gateway and allow the warning, saying where. The route's \
         request timeout is `edge.read_timeout`: a request, or a WebSocket, lasts at most that \
         long.";
    /// A prometheus-operator with nothing to take over, or a scrape job it cannot run.
    KubernetesPrometheusOperator = "kubernetes-prometheus-operator", Error,
        "`platform.kubernetes.prometheus_operator` is set without `monitoring`, or a scrape job needs what a ServiceMonitor cannot give.",
        "With a prometheus-operator the cluster's Prometheus takes the place of \
         `monitoring.prometheus`: each scrape job becomes a ServiceMonitor and the alert rules \
         a PrometheusRule, so the stack needs `monitoring`, and a job scraping the replaced \
         Prometheus has nothing to scrape (remove it in the overlay with `$remove`: the \
         operator's Prometheus scrapes itself). A ServiceMonitor reads basic \
         authentication's user name from a Secret too, and the environment's Secrets hold only \
         secrets: give such a target a bearer token, or keep Prometheus in the environment.";
    /// Alerts the operator's Prometheus sends elsewhere until told.
    KubernetesOperatorAlerts = "kubernetes-operator-alerts", Warning,
        "The operator's Prometheus does not know the environment's Alertmanager.",
        "A prometheus-operator's Prometheus sends alerts to the Alertmanagers its Prometheus \
         resource lists (`spec.alerting.alertmanagers`), which the environment does not own. \
         Until it lists the environment's Alertmanager (its Service, namespace and port), the \
         PrometheusRule's alerts reach nobody the spec routes them to. List it, then allow the \
         warning, saying so.";
    /// The stack does not fit its VM.
    Capacity = "capacity", Error,
        "The services need more than the target VM has.",
        "Resource totals (replicas counted, with and without the scale-out plans) must fit the \
         VM of `target_vm` (seed 2.2). Pick a larger VM or lower the services' resources; \
         `vutler-render plan` shows every figure.";
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl Rule {
    /// Whether the offending source line may hold a secret value, so that it is not shown in
    /// an excerpt (only its position is).
    pub fn hides_source(self) -> bool {
        matches!(self, Rule::SecretLiteral)
    }

    /// The rule with this id.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.id() == id)
    }
}

/// The rules page (`docs/rules.md`): every rule with its id, severity, summary and explanation.
pub fn rules_page() -> String {
    let mut out = String::from(
        "# Rules\n\n<!-- Generated by `cargo xtask rules` from vutler-spec/src/rule.rs. Do not edit. -->\n\n\
         Every problem vutler-render reports names one of these rules, as `error[id]` or \
         `warning[id]`. Each rule has a fixture in `vutler-spec/tests/fixtures/invalid/` that \
         produces it.\n\n| id | severity | summary |\n|---|---|---|\n",
    );
    for rule in Rule::ALL {
        out.push_str(&format!(
            "| [`{id}`](#{id}) | {} | {} |\n",
            severity_name(rule.default_severity()),
            rule.summary(),
            id = rule.id(),
        ));
    }
    for rule in Rule::ALL {
        out.push_str(&format!(
            "\n## {}\n\n{} ({}).\n\n{}\n",
            rule.id(),
            rule.summary().trim_end_matches('.'),
            severity_name(rule.default_severity()),
            rule.explanation()
        ));
    }
    out
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for rule in Rule::ALL {
            let id = rule.id();
            assert!(seen.insert(id), "{id} twice");
            assert!(
                id.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !id.starts_with('-'),
                "{id}"
            );
            assert_eq!(Rule::from_id(id), Some(*rule));
            assert!(rule.summary().ends_with('.'), "{id}");
            assert!(!rule.explanation().contains("  "), "{id}: double space");
        }
    }
}
