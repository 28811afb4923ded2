//! Where a process runs, as its cgroup paths (`/proc/PID/cgroup`) tell: the id of its container
//! (the 64 hex digits Docker, containerd, CRI-O and Podman name their cgroups with, under the
//! cgroupfs driver (`/docker/ID`, `/kubepods/besteffort/podUID/ID`) or the systemd one
//! (`docker-ID.scope`, `cri-containerd-ID.scope`, `crio-ID.scope`, `libpod-ID.scope`)) and,
//! under Kubernetes, its pod's UID (`podUID`, or `kubepods-...-podUID.slice` with `_` for `-`).
//! With them a process on a row can be joined to `docker ps` or the pod (`kubectl get pods -A
//! -o json`, `.metadata.uid`).

/// What a process's cgroups say of its container and pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// The container's id (64 hex digits), or empty.
    pub container_id: String,
    /// The Kubernetes pod's UID (`8-4-4-4-12` hex digits), or empty.
    pub pod_uid: String,
    /// In a container: an id was found, or a cgroup names docker, containerd, kubepods,
    /// libpod or lxc.
    pub in_container: bool,
}

/// Reads `/proc/PID/cgroup`'s text (`hierarchy:controllers:path` lines).
pub fn from_cgroup(text: &str) -> Placement {
    let mut p = Placement::default();
    for path in text.lines().filter_map(|l| l.splitn(3, ':').nth(2)) {
        for segment in path.split('/') {
            if p.container_id.is_empty() {
                if let Some(id) = container_id(segment) {
                    p.container_id = id.to_string();
                }
            }
            if p.pod_uid.is_empty() {
                if let Some(uid) = pod_uid(segment) {
                    p.pod_uid = uid;
                }
            }
        }
    }
    p.in_container = !p.container_id.is_empty()
        || ["docker", "containerd", "kubepods", "libpod", "lxc"]
            .iter()
            .any(|c| text.contains(c));
    p
}

/// The container id a cgroup path segment is named for: 64 hex digits, alone or as
/// `RUNTIME-ID.scope` (not CRI-O's `crio-conmon-ID.scope`, its monitor's).
fn container_id(segment: &str) -> Option<&str> {
    let id = match segment.strip_suffix(".scope") {
        Some(scope) if !scope.contains("conmon") => scope.rsplit('-').next()?,
        Some(_) => return None,
        None => segment,
    };
    (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// The pod UID a cgroup path segment is named for: `podUID` (cgroupfs) or
/// `kubepods[-QOS]-podUID.slice` (systemd, `_` in place of `-`).
fn pod_uid(segment: &str) -> Option<String> {
    let name = segment.strip_suffix(".slice").unwrap_or(segment);
    let at = name.rfind("pod")?;
    if at > 0 && !name[..at].ends_with('-') {
        return None;
    }
    let uid = name[at + 3..].replace('_', "-");
    let groups: Vec<usize> = uid.split('-').map(str::len).collect();
    let hex = uid.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit());
    (hex && groups == [8, 4, 4, 4, 12]).then_some(uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "2e3b1f0c9d8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c";
    const UID: &str = "0f4c2a8e-1b3d-4e5f-8a9b-0c1d2e3f4a5b";

    fn placed(cgroup: &str) -> Placement {
        from_cgroup(cgroup)
    }

    #[test]
    fn runtimes_and_drivers_name_the_container() {
        let uid_ = UID.replace('-', "_");
        for (cgroup, pod) in [
            // Docker, cgroupfs driver (cgroup v1 lines).
            (format!("12:pids:/docker/{ID}\n0::/docker/{ID}\n"), ""),
            // Docker, systemd driver.
            (format!("0::/system.slice/docker-{ID}.scope\n"), ""),
            // Podman.
            (
                format!("0::/machine.slice/libpod-{ID}.scope/container\n"),
                "",
            ),
            // Kubernetes with containerd, systemd driver.
            (
                format!(
                    "0::/kubepods.slice/kubepods-burstable.slice/\
                     kubepods-burstable-pod{uid_}.slice/cri-containerd-{ID}.scope\n"
                ),
                UID,
            ),
            // Kubernetes with CRI-O, guaranteed QoS (no QoS slice).
            (
                format!("0::/kubepods.slice/kubepods-pod{uid_}.slice/crio-{ID}.scope\n"),
                UID,
            ),
            // Kubernetes, cgroupfs driver.
            (
                format!("4:memory:/kubepods/besteffort/pod{UID}/{ID}\n"),
                UID,
            ),
        ] {
            let p = placed(&cgroup);
            assert_eq!(p.container_id, ID, "{cgroup}");
            assert_eq!(p.pod_uid, pod, "{cgroup}");
            assert!(p.in_container, "{cgroup}");
        }
    }

    #[test]
    fn hosts_processes_and_look_alikes_name_none() {
        for cgroup in [
            "0::/\n",
            "0::/user.slice/user-1000.slice/session-3.scope\n",
            "4:memory:/process_api/9ece9bbe28ca65e3420cc024f1097ca1\n",
            // CRI-O's container monitor, not the container.
            &format!("0::/kubepods.slice/crio-conmon-{ID}.scope\n"),
            // 63 and 65 digits; not hex.
            &format!("0::/docker/{}\n", &ID[1..]),
            &format!("0::/docker/{ID}0\n"),
            &format!("0::/docker/{}\n", "g".repeat(64)),
            // Not a pod: "pod" inside a word, a UID of the wrong shape.
            &format!("0::/ipod{UID}\n"),
            "0::/kubepods/pod1234/\n",
            "",
            "garbage without colons",
        ] {
            let p = placed(cgroup);
            assert_eq!(p.container_id, "", "{cgroup}");
            assert_eq!(p.pod_uid, "", "{cgroup}");
        }
        // In a container by name only (an lxc or docker cgroup without an id).
        assert!(placed("0::/lxc.payload.web\n").in_container);
        assert!(!placed("0::/user.slice\n").in_container);
        // CRI-O's monitor runs in the pod: its pod is still found.
        let conmon = placed(&format!(
            "0::/kubepods.slice/kubepods-pod{}.slice/crio-conmon-{ID}.scope\n",
            UID.replace('-', "_")
        ));
        assert_eq!(
            (conmon.container_id.as_str(), conmon.pod_uid.as_str()),
            ("", UID)
        );
    }
}
