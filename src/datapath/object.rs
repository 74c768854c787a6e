//! Loading one direction's object through its skeleton and pinning its maps.
//!
//! After loading, everything the daemon needs is copied out as owned file
//! descriptors (map handles, the program fd) and the skeleton is dropped; the
//! pins and the attachment keep the kernel objects alive.

use std::fs;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{MapCore, MapHandle, MapType, Object, OpenMapMut, OpenObject, ProgramImpl};

use super::maps::DatapathMaps;
use super::names::{entry_function, MapRole};
use super::pinned::PinSet;
pub use crate::abi::FlowMapAlloc;
use crate::flow::Direction;
use crate::skel;

pub struct LoadOptions<'a> {
    /// Directory the maps are pinned in (created if missing).
    pub pin_dir: &'a Path,
    /// Capacity of each flow map; `None` keeps the object's default.
    pub max_flows: Option<u32>,
    /// How the flow maps get their entries' memory.
    pub alloc: FlowMapAlloc,
    /// Delete pins in `pin_dir` that do not match this build instead of
    /// refusing to start. Only for directories this program owns.
    pub replace_stale_pins: bool,
}

pub struct LoadedObject {
    pub direction: Direction,
    pub prog: OwnedFd,
    pub prog_id: u32,
    pub maps: DatapathMaps,
    pub pins: PinSet,
}

/// Loads the object of `direction` and pins its maps in `opts.pin_dir`,
/// reusing maps already pinned there (a predecessor's flows get drained).
pub fn load(direction: Direction, opts: &LoadOptions<'_>) -> Result<LoadedObject> {
    // A named refusal instead of the verifier's dump on an old kernel.
    crate::kernel::require_supported()?;
    match direction {
        Direction::Ingress => load_skel(
            direction,
            skel::ingress::BpfIpfixIngressSkelBuilder::default(),
            opts,
        ),
        Direction::Egress => load_skel(
            direction,
            skel::egress::BpfIpfixEgressSkelBuilder::default(),
            opts,
        ),
    }
}

fn load_skel<B>(direction: Direction, builder: B, opts: &LoadOptions<'_>) -> Result<LoadedObject>
where
    B: for<'o> SkelBuilder<'o>,
{
    let mut pins = pin_dir(opts.pin_dir)?;
    let mut storage = MaybeUninit::uninit();
    let loaded = builder
        .open(&mut storage)
        .with_context(|| format!("opening the {} BPF object", direction.as_str()))
        .and_then(|mut open| {
            prepare_maps(open.open_object_mut(), direction, opts, &mut pins)?;
            open.load().with_context(|| {
                format!(
                    "loading the {} BPF object (kernel verifier or map creation refused it)",
                    direction.as_str()
                )
            })
        });
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            // Remove the pins this attempt created, keep the ones reused.
            pins.remove_created();
            return Err(e);
        }
    };
    let (prog, prog_id, maps) = handles(loaded.object(), direction)?;
    Ok(LoadedObject {
        direction,
        prog,
        prog_id,
        maps,
        pins,
    })
}

/// Creates the pin directory; the set remembers which directories it made.
fn pin_dir(dir: &Path) -> Result<PinSet> {
    let created_dirs: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
        .map(Path::to_path_buf)
        .collect();
    fs::create_dir_all(dir).with_context(|| format!("creating pin directory {}", dir.display()))?;
    Ok(PinSet {
        dir: dir.to_path_buf(),
        created_dirs,
        files: Vec::new(),
    })
}

/// Sizes the flow maps and points every map at its pin, checking pins a
/// predecessor left; `pins` learns which files the load will create.
fn prepare_maps(
    open: &mut OpenObject,
    direction: Direction,
    opts: &LoadOptions<'_>,
    pins: &mut PinSet,
) -> Result<()> {
    check_retired_pins(opts.pin_dir, direction, opts.replace_stale_pins)?;
    for mut map in open.maps_mut() {
        let name = map.name().to_string_lossy().into_owned();
        if is_flow_map(&name, direction) {
            if let Some(n) = opts.max_flows {
                map.set_max_entries(n)
                    .with_context(|| format!("resizing {name} to {n} entries"))?;
            }
            if opts.alloc == FlowMapAlloc::Preallocated {
                let flags = map.map_flags() & !libbpf_rs::libbpf_sys::BPF_F_NO_PREALLOC;
                map.set_map_flags(flags)
                    .with_context(|| format!("preallocating {name}"))?;
            }
        }
        let path = opts.pin_dir.join(&name);
        let exists = path.exists();
        if exists {
            check_pin_compatible(&path, &map, opts.replace_stale_pins)?;
        }
        map.set_pin_path(&path)
            .with_context(|| format!("setting pin path {}", path.display()))?;
        pins.files.push((path, !exists));
    }
    Ok(())
}

/// The program's fd and id and the maps' handles, owned past the object.
fn handles(object: &Object, direction: Direction) -> Result<(OwnedFd, u32, DatapathMaps)> {
    let entry = entry_function(direction);
    let prog = object
        .progs()
        .find(|p| p.name().to_string_lossy() == entry)
        .with_context(|| format!("the {} object has no program {entry}", direction.as_str()))?;
    let prog_fd = prog
        .as_fd()
        .try_clone_to_owned()
        .context("duplicating the program fd")?;
    let prog_id =
        ProgramImpl::<()>::id_from_fd(prog_fd.as_fd()).context("reading the program id")?;
    let maps = DatapathMaps::from_roles(direction, |role| {
        let want = role.map_name(direction);
        let map = object
            .maps()
            .find(|m| m.name().to_string_lossy() == want)
            .with_context(|| format!("the {} object has no map {want}", direction.as_str()))?;
        MapHandle::try_from(&map).with_context(|| format!("duplicating the fd of map {want}"))
    })?;
    Ok((prog_fd, prog_id, maps))
}

fn is_flow_map(name: &str, direction: Direction) -> bool {
    MapRole::FLOWS.iter().any(|r| name == r.map_name(direction))
}

/// Refuses (or with `replace` removes) pins of maps an earlier build had and
/// this one does not ([`MapRole::RETIRED_JOBS`]): this build would neither
/// drain nor remove them, and what they hold has another layout.
fn check_retired_pins(dir: &Path, direction: Direction, replace: bool) -> Result<()> {
    for job in MapRole::RETIRED_JOBS {
        let path = dir.join(format!("ipfix_{}_{job}", direction.as_str()));
        if !path.exists() {
            continue;
        }
        if replace {
            log::warn!(
                "removing pin {} of an older build (flow ABI 3 or before; its flows are not \
                 exported)",
                path.display()
            );
            fs::remove_file(&path)
                .with_context(|| format!("removing stale pin {}", path.display()))?;
            continue;
        }
        bail!(
            "pinned map {} was left by an older build (flow ABI 3 or before; this build \
             has IPv4 and IPv6 flow maps of another layout and cannot drain it); stop that \
             build's exporter and let it drain, or pass --replace-pins to drop it",
            path.display()
        );
    }
    Ok(())
}

/// Characters of a map name the kernel keeps (BPF_OBJ_NAME_LEN - 1).
const KERNEL_NAME_CHARS: usize = 15;

/// Refuses (or with `replace` removes) a pinned map that libbpf could not
/// reuse: another name, type, key or value size, capacity or flags.
fn check_pin_compatible(path: &Path, want: &OpenMapMut<'_>, replace: bool) -> Result<()> {
    let pinned = MapHandle::from_pinned_path(path)
        .with_context(|| format!("opening existing pin {}", path.display()))?;
    let info = pinned
        .info()
        .with_context(|| format!("reading map info of {}", path.display()))?;
    let mut diffs = Vec::new();
    // The kernel keeps BPF_OBJ_NAME_LEN - 1 characters of a name; libbpf
    // takes a pinned map under the kernel's name unless it is the start of
    // the object's, and the skeleton finds its maps by name.
    let have_name = info.name().unwrap_or_default();
    let want_name = want.name().to_string_lossy();
    let kept = want_name.get(..KERNEL_NAME_CHARS).unwrap_or(&want_name);
    if have_name != kept {
        diffs.push(format!("name {have_name:?} (want {want_name:?})"));
    }
    let want_type = want.map_type();
    if info.map_type() != want_type {
        diffs.push(format!("type {:?} (want {want_type:?})", info.map_type()));
    }
    let fields = [
        ("key size", info.info.key_size, want.key_size()),
        ("value size", info.info.value_size, want.value_size()),
        ("max entries", info.info.max_entries, want.max_entries()),
        ("flags", info.info.map_flags, want.map_flags()),
    ];
    for (what, have, need) in fields {
        if have != need {
            diffs.push(format!("{what} {have} (want {need})"));
        }
    }
    if diffs.is_empty() {
        return Ok(());
    }
    if replace {
        log::warn!(
            "replacing stale pin {} ({})",
            path.display(),
            diffs.join(", ")
        );
        fs::remove_file(path).with_context(|| format!("removing stale pin {}", path.display()))?;
        return Ok(());
    }
    let hint = if want_type == MapType::Hash {
        " or another --max-flows or --flow-map-alloc"
    } else {
        ""
    };
    bail!(
        "pinned map {} does not match this build: {} (left by an older build{hint}); \
         drain and remove it, or pass --replace-pins",
        path.display(),
        diffs.join(", ")
    )
}
