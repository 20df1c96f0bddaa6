//! VM sizes, other monthly costs, and whether the services fit the environment's VM (seed 2.2
//! and 11).
//!
//! Rules: `capacity` (resource totals, replicas counted, with and without the scale-out plans,
//! within the target VM).

use crate::path::SpecPath;
use crate::raw::RawCostRange;
use crate::rule::Rule;
use crate::stack::*;
use crate::text::OneLine;
use crate::units::ByteSize;

use super::{Cx, all};

/// The VM sizes.
pub(super) fn vms(cx: &mut Cx<'_>) -> Option<Vec<Vm>> {
    let raw = cx.raw;
    let vp = SpecPath::top("vms");
    all(raw.vms.iter().map(|(name, vm)| {
        let p = vp.key(name);
        let vm_name = cx.name(&vp, name);
        let description = cx.text(p.key("description"), &vm.description, OneLine::parse);
        let cpus = cx.cpus(p.key("cpus"), &vm.cpus);
        let memory = cx.size(p.key("memory"), &vm.memory);
        let disk = cx.size(p.key("disk"), &vm.disk);
        let monthly_usd = cost(cx, &p.key("monthly_usd"), vm.monthly_usd);
        Some(Vm {
            name: vm_name?,
            description: description?,
            cpus: cpus?,
            memory: memory?,
            disk: disk?,
            monthly_usd: monthly_usd?,
        })
    }))
}

/// The costs besides the VM.
pub(super) fn costs(cx: &mut Cx<'_>) -> Option<Vec<Cost>> {
    let raw = cx.raw;
    let cp = SpecPath::top("costs");
    all(raw.costs.iter().map(|(name, c)| {
        let cost_name = cx.name(&cp, name);
        let description = cx.text(cp.key(name).key("description"), &c.description, OneLine::parse);
        let monthly_usd = cost(cx, &cp.key(name).key("monthly_usd"), c.monthly_usd);
        Some(Cost {
            name: cost_name?,
            description: description?,
            monthly_usd: monthly_usd?,
        })
    }))
}

fn cost(cx: &mut Cx<'_>, path: &SpecPath, raw: RawCostRange) -> Option<CostRange> {
    let max = raw.max.unwrap_or(raw.min);
    if max < raw.min {
        cx.out_of_range(path.key("max"), format!("max ({max}) is below min ({})", raw.min));
        return None;
    }
    Some(CostRange { min: raw.min, max })
}

/// Whether the services, replicas counted, fit the VM (also with the scale-out plans).
pub(super) fn check(cx: &mut Cx<'_>, vm: &Vm, services: &[Service], scaling: &[ScalePlan], backups: ByteSize) {
    let capacity = capacity_of(vm, services, scaling, backups);
    for short in capacity.shortfalls() {
        let (have, limit) = match short.resource {
            Resource::Cpus => (short.need.cpus.to_string(), vm.cpus.to_string()),
            Resource::Memory => (short.need.memory.to_string(), vm.memory.to_string()),
            Resource::Disk if backups > ByteSize::default() => (
                format!("{} (local backups: {backups})", short.need.disk),
                vm.disk.to_string(),
            ),
            Resource::Disk => (short.need.disk.to_string(), vm.disk.to_string()),
        };
        cx.error_help(
            Rule::Capacity,
            SpecPath::top("target_vm"),
            format!(
                "the services need {have} {}{}, more than VM `{}` has ({limit})",
                short.resource.as_str(),
                if short.scaled { " with the scale-out plans" } else { "" },
                vm.name
            ),
            "pick a larger VM or lower the services' resources",
        );
    }
}
