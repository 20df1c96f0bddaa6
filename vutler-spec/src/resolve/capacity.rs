//! VM sizes, other monthly costs, and whether the services fit the environment's VM (seed 2.2
//! and 11).
//!
//! Rules: `capacity` (resource totals, replicas counted, with and without the scale-out plans,
//! within the target VM).

use crate::diagnostic::Diagnostic;
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

/// Whether the services, replicas counted, fit the VM (also with the scale-out plans). Each
/// shortfall is reported at what contributes the most to it (a service's replica count when it
/// runs several, else its resource), with the VM's size as the related place.
pub(super) fn check(cx: &mut Cx<'_>, vm: &Vm, services: &[Service], scaling: &[ScalePlan], backups: ByteSize) {
    let capacity = capacity_of(vm, services, scaling, backups);
    for short in capacity.shortfalls() {
        let (need, have) = match short.resource {
            Resource::Cpus => (short.need.cpus.to_string(), vm.cpus.to_string()),
            Resource::Memory => (short.need.memory.readable(), vm.memory.readable()),
            Resource::Disk if backups > ByteSize::default() => (
                format!("{} (local backups: {})", short.need.disk.readable(), backups.readable()),
                vm.disk.readable(),
            ),
            Resource::Disk => (short.need.disk.readable(), vm.disk.readable()),
        };
        let mut message = format!(
            "the services need {need} {}{}, more than VM `{}` has ({have})",
            short.resource.as_str(),
            if short.scaled { " with the scale-out plans" } else { "" },
            vm.name
        );
        let vm_path = SpecPath::top("vms").key(&vm.name).key(short.resource.as_str());
        let diagnostic = match largest_share(services, scaling, short) {
            Some(share) => {
                message.push_str(&format!(
                    "; the largest share is `{}`'s: {}",
                    share.service.name, share.says
                ));
                Diagnostic::new(Rule::Capacity, share.path, message)
                    .with_related_path(
                        vm_path,
                        format!("VM `{}` has {have} {}", vm.name, short.resource.as_str()),
                    )
                    .with_related_path(SpecPath::top("target_vm"), "the environment runs on this VM")
            }
            None => Diagnostic::new(Rule::Capacity, SpecPath::top("target_vm"), message),
        };
        cx.report(
            diagnostic.with_help(
                "lower the replicas or resources of the services with the largest shares, or pick a larger VM",
            ),
        );
    }
}

/// The service that needs the most of a short resource, and the spec path that sets its share.
struct Share<'s> {
    service: &'s Service,
    /// Its replica count when it runs several (or its scale-out plan's, for a scaled shortfall),
    /// else its resource.
    path: SpecPath,
    /// `30 replicas x 2GB = 60GB memory`, or `64GB memory`.
    says: String,
}

fn largest_share<'s>(services: &'s [Service], scaling: &[ScalePlan], short: Shortfall) -> Option<Share<'s>> {
    let plan = |s: &Service| scaling.iter().find(|p| short.scaled && p.service == s.id);
    let replicas = |s: &Service| plan(s).map_or(s.replicas, |p| p.replicas);
    // Each service's share in thousandths of a CPU or bytes; disk is counted once (replicas
    // share their volumes).
    let share = |s: &Service| -> u64 {
        let Some(r) = &s.resources else { return 0 };
        match short.resource {
            Resource::Cpus => u64::from(r.cpus.millis()) * u64::from(replicas(s)),
            Resource::Memory => r.memory.bytes().saturating_mul(u64::from(replicas(s))),
            Resource::Disk => r.disk.bytes(),
        }
    };
    // The first of equal shares, in spec order (`max_by_key` keeps the last, so look from the end).
    let service = services
        .iter()
        .rev()
        .filter(|s| share(s) > 0)
        .max_by_key(|s| share(s))?;
    let r = service.resources.as_ref()?;
    let n = replicas(service);
    let one = total(short.resource, r, 1);
    let what = short.resource.as_str();
    let (path, says) = match plan(service) {
        Some(_) if n > 1 && short.resource != Resource::Disk => (
            SpecPath::top("scaling").key(&service.name).key("replicas"),
            format!(
                "{n} replicas (its scale-out plan) x {one} = {} {what}",
                total(short.resource, r, n)
            ),
        ),
        _ if n > 1 && short.resource != Resource::Disk => (
            SpecPath::top("services").key(&service.name).key("replicas"),
            format!("{n} replicas x {one} = {} {what}", total(short.resource, r, n)),
        ),
        _ => (
            SpecPath::top("services").key(&service.name).key("resources").key(what),
            format!("{one} {what}"),
        ),
    };
    Some(Share { service, path, says })
}

/// `n` times a service's cpus or memory, as people read it.
fn total(resource: Resource, r: &Resources, n: u32) -> String {
    match resource {
        Resource::Cpus => (r.cpus * n).to_string(),
        Resource::Memory => (r.memory * n).readable(),
        // Replicas share their volumes.
        Resource::Disk => r.disk.readable(),
    }
}
