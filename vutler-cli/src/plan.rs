//! `plan`: what each service needs, the totals against the VM (with and without the scale-out
//! plans), the headroom left, and the monthly cost estimate (seed 2.2 and 11).
//!
//! A stack that does not fit its VM is still a stack worth planning: it is loaded with capacity
//! errors allowed, the table shows every figure, and the exit status says it does not fit.

use std::process::ExitCode;

use vutler_spec::stack::{Capacity, Kubernetes, Mount, Requests, Resource, Resources, Shortfall};
use vutler_spec::units::{ByteSize, Cpus};
use vutler_spec::{Rule, Stack};

use crate::{Cli, EXIT_DIFFERENT, invalid, print_report};

/// `vutler-render plan --env ENV`.
pub(crate) fn plan(cli: &Cli, env: &str) -> anyhow::Result<ExitCode> {
    let files = match crate::spec_files(cli, env) {
        Ok(f) => f,
        Err(report) => return Ok(invalid(cli, &report)),
    };
    let loaded = match files.resolve_allowing(&[Rule::Capacity, Rule::KubernetesCapacity]) {
        Ok(l) => l,
        Err(report) => return Ok(invalid(cli, &report)),
    };
    // Capacity errors are what the plan shows; they are not printed as errors.
    let mut others = loaded.warnings.clone();
    others
        .diagnostics
        .retain(|d| d.rule != Rule::Capacity && d.rule != Rule::KubernetesCapacity);
    print_report(cli, &others)?;
    let stack = &loaded.stack;
    if let Some(k8s) = stack.kubernetes() {
        let (text, fits) = render_cluster_plan(stack, k8s);
        print!("{text}");
        return Ok(if fits {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_DIFFERENT)
        });
    }
    let capacity = stack.capacity();
    print!("{}", render_plan(stack, &capacity));
    Ok(if capacity.fits() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DIFFERENT)
    })
}

/// The whole plan as text.
fn render_plan(stack: &Stack, capacity: &Capacity) -> String {
    let vm = stack.vm();
    let scaled = !stack.scaling().is_empty();
    let mut out = format!(
        "{} on VM `{}` ({}): {} CPUs, {} memory, {} disk\n\n",
        stack.env(),
        vm.name,
        vm.description,
        vm.cpus,
        size(vm.memory),
        size(vm.disk)
    );

    let mut rows = vec![Row::cells(["SERVICE", "REPLICAS", "CPUS", "MEMORY", "DISK"])];
    for service in stack.services() {
        let name = service.name.to_string();
        let replicas = match stack.scale_of(service.id) {
            Some(plan) if plan.replicas != service.replicas => format!("{} → {}", service.replicas, plan.replicas),
            _ => service.replicas.to_string(),
        };
        let row = match service.resources {
            // Replicas share their volumes: disk is counted once, as in the totals.
            Some(r) => [
                name,
                replicas,
                (r.cpus * service.replicas).to_string(),
                size(r.memory * service.replicas),
                size(r.disk),
            ],
            None => [name, replicas, "-".into(), "-".into(), "-".into()],
        };
        rows.push(Row::Cells(row));
    }
    // The local copies of the backups, on the VM's disk until they are pruned.
    if capacity.backups > ByteSize::default() {
        rows.push(Row::Cells([
            "local backups".into(),
            String::new(),
            "-".into(),
            "-".into(),
            size(capacity.backups),
        ]));
    }
    rows.push(Row::Rule);
    let containers: u32 = stack.services().iter().map(|s| s.replicas).sum();
    rows.push(resources_row("total", containers.to_string(), capacity.base));
    if scaled {
        let containers: u32 = stack
            .services()
            .iter()
            .map(|s| stack.scale_of(s.id).map_or(s.replicas, |p| p.replicas))
            .sum();
        rows.push(resources_row("total, scaled", containers.to_string(), capacity.scaled));
    }
    rows.push(Row::Rule);
    rows.push(resources_row(&format!("VM `{}`", vm.name), String::new(), capacity.vm));
    let mut totals = vec![("", capacity.base)];
    if scaled {
        totals.push((", scaled", capacity.scaled));
    }
    for (suffix, total) in &totals {
        rows.push(Row::Cells([
            format!("headroom{suffix}"),
            String::new(),
            signed_cpus(capacity.vm.cpus, total.cpus),
            signed_size(capacity.vm.memory, total.memory),
            signed_size(capacity.vm.disk, total.disk),
        ]));
        rows.push(Row::Cells([
            format!("used{suffix}"),
            String::new(),
            percent(u64::from(total.cpus.millis()), u64::from(capacity.vm.cpus.millis())),
            percent(total.memory.bytes(), capacity.vm.memory.bytes()),
            percent(total.disk.bytes(), capacity.vm.disk.bytes()),
        ]));
    }
    out.push_str(&table(&rows, &[false, true, true, true, true]));
    if let (true, Some(backups)) = (capacity.backups > ByteSize::default(), stack.backups()) {
        let copies: Vec<String> = backups
            .jobs
            .iter()
            .map(|j| {
                let base = if j.wal().is_some() {
                    " and as many base backups"
                } else {
                    ""
                };
                format!("{} {} × {}{base}", j.name, j.local_copies(), size(j.size))
            })
            .collect();
        out.push_str(&format!(
            "\nlocal backups: the most copies {} keeps at once ({})\n",
            backups.local_dir,
            copies.join(", ")
        ));
    }

    let short: Vec<String> = capacity
        .shortfalls()
        .iter()
        .map(|s| shortfall(capacity.vm, s))
        .collect();
    if short.is_empty() {
        out.push_str(&format!(
            "\n{}: fits VM `{}`{}\n",
            stack.env(),
            vm.name,
            if scaled { ", scale-out plans included" } else { "" }
        ));
    } else {
        out.push_str(&format!("\n{}: does not fit VM `{}`:\n", stack.env(), vm.name));
        for line in short {
            out.push_str(&format!("  {line}\n"));
        }
    }

    out.push_str(&cost_table(
        stack,
        format!("VM `{}`", vm.name),
        (vm.monthly_usd.min.into(), vm.monthly_usd.max.into()),
        vm.description.to_string(),
    ));
    out
}

/// The monthly costs: what runs the stack (its range and description), every other cost, and
/// the total.
fn cost_table(stack: &Stack, what: String, (min, max): (u64, u64), description: String) -> String {
    let mut rows = vec![Row::Cells([
        what,
        range(min, max),
        description,
        String::new(),
        String::new(),
    ])];
    let (mut min, mut max) = (min, max);
    for cost in stack.costs() {
        min += u64::from(cost.monthly_usd.min);
        max += u64::from(cost.monthly_usd.max);
        rows.push(Row::Cells([
            cost.name.to_string(),
            range(cost.monthly_usd.min.into(), cost.monthly_usd.max.into()),
            cost.description.to_string(),
            String::new(),
            String::new(),
        ]));
    }
    rows.push(Row::Rule);
    rows.push(Row::Cells([
        "total".into(),
        range(min, max),
        String::new(),
        String::new(),
        String::new(),
    ]));
    format!(
        "\nMonthly cost (USD)\n{}",
        table(&rows, &[false, true, false, false, false])
    )
}

/// The plan of a Kubernetes environment: each workload's pods and requests, the totals with
/// the fewest pods and with every autoscaler at its maximum, against the node pool, and the
/// monthly cost of the nodes; whether everything fits.
fn render_cluster_plan(stack: &Stack, k8s: &Kubernetes) -> (String, bool) {
    let pool = k8s.nodes.map(|p| (stack.vms()[p.vm.index()].clone(), p.count));
    let mut out = format!(
        "{} on Kubernetes {}, namespace `{}`",
        stack.env(),
        k8s.version(),
        k8s.namespace
    );
    match &pool {
        Some((vm, n)) => out.push_str(&format!(
            ": {n} × VM `{}` ({} CPUs, {} memory each)\n\n",
            vm.name,
            vm.cpus,
            size(vm.memory)
        )),
        None => out.push_str(": no node pool in the spec (platform.kubernetes.nodes)\n\n"),
    }
    let mut rows = vec![Row::cells([
        "WORKLOAD",
        "PODS",
        "CPU REQUESTS",
        "MEMORY REQUESTS",
        "CLAIMS",
    ])];
    let (mut fewest_pods, mut most_pods) = (0, 0);
    // The first workload whose pod no node can hold.
    let mut too_big: Option<String> = None;
    for service in stack.services().iter().filter(|s| k8s.deploys(s.id)) {
        let pods = k8s.pods(stack, service);
        fewest_pods += pods.fewest;
        most_pods += pods.most;
        let count = if pods.most > pods.fewest {
            format!("{} → {}", pods.fewest, pods.most)
        } else {
            pods.fewest.to_string()
        };
        let claims = service
            .mounts
            .iter()
            .filter_map(|m| match m {
                Mount::Volume { volume, .. } => k8s.claim(*volume).map(|c| c.size),
                _ => None,
            })
            .fold(ByteSize::default(), |a, b| a + b);
        let claims = if claims > ByteSize::default() {
            size(claims)
        } else {
            "-".into()
        };
        let row = match k8s.workload(service.id).requests {
            Some(r) => {
                if let Some((vm, _)) = &pool
                    && (r.cpus > vm.cpus || r.memory > vm.memory)
                {
                    too_big.get_or_insert_with(|| service.name.to_string());
                }
                [
                    service.name.to_string(),
                    count,
                    (r.cpus * pods.fewest).to_string(),
                    size(r.memory * pods.fewest),
                    claims,
                ]
            }
            None => [service.name.to_string(), count, "-".into(), "-".into(), claims],
        };
        rows.push(Row::Cells(row));
    }
    let (fewest, most) = k8s.requested(stack);
    let request_row = |label: &str, pods: u32, r: Requests| {
        Row::Cells([
            label.to_owned(),
            pods.to_string(),
            r.cpus.to_string(),
            size(r.memory),
            String::new(),
        ])
    };
    rows.push(Row::Rule);
    rows.push(request_row("total", fewest_pods, fewest));
    if most != fewest {
        rows.push(request_row("total, most pods", most_pods, most));
    }
    let mut fits = true;
    let mut verdict = String::new();
    if let Some((vm, n)) = &pool {
        let (cpus, memory) = (vm.cpus * *n, vm.memory * *n);
        rows.push(Row::Rule);
        rows.push(Row::Cells([
            format!("{n} × VM `{}`", vm.name),
            String::new(),
            cpus.to_string(),
            size(memory),
            String::new(),
        ]));
        for (suffix, need) in [("", fewest), (", most pods", most)] {
            if suffix.is_empty() || most != fewest {
                rows.push(Row::Cells([
                    format!("headroom{suffix}"),
                    String::new(),
                    signed_cpus(cpus, need.cpus),
                    signed_size(memory, need.memory),
                    String::new(),
                ]));
                rows.push(Row::Cells([
                    format!("used{suffix}"),
                    String::new(),
                    percent(u64::from(need.cpus.millis()), u64::from(cpus.millis())),
                    percent(need.memory.bytes(), memory.bytes()),
                    String::new(),
                ]));
            }
            fits &= need.cpus <= cpus && need.memory <= memory;
        }
        verdict = match &too_big {
            Some(name) => format!(
                "\n{}: a pod of `{name}` requests more than one node of VM `{}` has\n",
                stack.env(),
                vm.name
            ),
            None if fits => format!(
                "\n{}: fits {n} × VM `{}`, autoscalers at their maximum included\n",
                stack.env(),
                vm.name
            ),
            None => format!("\n{}: does not fit {n} × VM `{}`\n", stack.env(), vm.name),
        };
        fits &= too_big.is_none();
    }
    out.push_str(&table(&rows, &[false, true, true, true, true]));
    out.push_str(&verdict);

    let (what, cost, each) = match &pool {
        Some((vm, n)) => (
            format!("{n} × VM `{}`", vm.name),
            (
                u64::from(vm.monthly_usd.min) * u64::from(*n),
                u64::from(vm.monthly_usd.max) * u64::from(*n),
            ),
            format!("{} each", range(vm.monthly_usd.min.into(), vm.monthly_usd.max.into())),
        ),
        None => ("nodes".to_owned(), (0, 0), "not in the spec".to_owned()),
    };
    out.push_str(&cost_table(stack, what, cost, each));
    (out, fits)
}

/// A line of a table: five cells, or a rule across it.
enum Row {
    Cells([String; 5]),
    Rule,
}

impl Row {
    fn cells(cells: [&str; 5]) -> Row {
        Row::Cells(cells.map(str::to_owned))
    }
}

fn resources_row(label: &str, replicas: String, r: Resources) -> Row {
    Row::Cells([
        label.to_owned(),
        replicas,
        r.cpus.to_string(),
        size(r.memory),
        size(r.disk),
    ])
}

/// Lays out rows in aligned columns (right-aligned where `right` says so), two spaces apart.
fn table(rows: &[Row], right: &[bool; 5]) -> String {
    let mut widths = [0usize; 5];
    for row in rows {
        if let Row::Cells(cells) = row {
            for (w, cell) in widths.iter_mut().zip(cells) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let used: Vec<usize> = widths.iter().copied().filter(|w| *w > 0).collect();
    let full = used.iter().sum::<usize>() + 2 * used.len().saturating_sub(1);
    let mut out = String::new();
    for row in rows {
        match row {
            Row::Rule => out.push_str(&"-".repeat(full)),
            Row::Cells(cells) => {
                let mut line = String::new();
                for (i, cell) in cells.iter().enumerate() {
                    if widths[i] == 0 {
                        continue;
                    }
                    if i > 0 {
                        line.push_str("  ");
                    }
                    let w = widths[i];
                    if right[i] {
                        line.push_str(&format!("{cell:>w$}"));
                    } else {
                        line.push_str(&format!("{cell:<w$}"));
                    }
                }
                out.push_str(line.trim_end());
            }
        }
        out.push('\n');
    }
    out
}

fn size(s: ByteSize) -> String {
    s.readable()
}

/// `have - need`, negative when short.
fn signed_cpus(have: Cpus, need: Cpus) -> String {
    let (have, need) = (have.millis(), need.millis());
    if need <= have {
        Cpus::from_millis(have - need).to_string()
    } else {
        format!("-{}", Cpus::from_millis(need - have))
    }
}

/// `have - need`, negative when short.
fn signed_size(have: ByteSize, need: ByteSize) -> String {
    let (have, need) = (have.bytes(), need.bytes());
    if need <= have {
        size(ByteSize::from_bytes(have - need))
    } else {
        format!("-{}", size(ByteSize::from_bytes(need - have)))
    }
}

/// `part` as a whole percentage of `whole`, rounded.
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".into();
    }
    let p = (u128::from(part) * 100 + u128::from(whole) / 2) / u128::from(whole);
    format!("{p}%")
}

/// `80-120`, or `50` for an exact cost.
fn range(min: u64, max: u64) -> String {
    if max > min {
        format!("{min}-{max}")
    } else {
        min.to_string()
    }
}

/// What a shortfall lacks on `vm`, as one line.
fn shortfall(vm: Resources, short: &Shortfall) -> String {
    let when = if short.scaled { " with the scale-out plans" } else { "" };
    let (need, have) = match short.resource {
        Resource::Cpus => (short.need.cpus.to_string(), vm.cpus.to_string()),
        Resource::Memory => (size(short.need.memory), size(vm.memory)),
        Resource::Disk => (size(short.need.disk), size(vm.disk)),
    };
    format!("{}: {need} needed{when}, the VM has {have}", short.resource.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_like_the_spec() {
        let gb = |n: u64| ByteSize::from_bytes(n << 30);
        assert_eq!(signed_size(gb(32), gb(12)), "20GB");
        assert_eq!(signed_size(gb(4), gb(6)), "-2GB");
        assert_eq!(signed_size(gb(4), gb(4)), "0B");
        assert_eq!(signed_cpus(Cpus::from_millis(8000), Cpus::from_millis(7400)), "0.6");
        assert_eq!(signed_cpus(Cpus::from_millis(1000), Cpus::from_millis(1500)), "-0.5");
        assert_eq!(percent(7400, 8000), "93%");
        assert_eq!(percent(1, 3), "33%");
        assert_eq!(range(80, 120), "80-120");
        assert_eq!(range(50, 50), "50");
    }

    #[test]
    fn tables_align_columns() {
        let rows = [
            Row::cells(["a", "1", "x", "", ""]),
            Row::Rule,
            Row::cells(["long name", "10", "y", "", ""]),
        ];
        assert_eq!(
            table(&rows, &[false, true, false, false, false]),
            "a           1  x\n----------------\nlong name  10  y\n"
        );
    }
}
