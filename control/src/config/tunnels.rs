//! The tunnel key `inputs.cbpf.preprocess.tunnel_decap_protocols` (legacy `decap_type`): which
//! tunnels are peeled, by DeepFlow's numbers or by name.

use tapflow_analyzer::wire::{TunnelSet, TunnelType};

use super::{raw, ConfigError};

/// `tunnel_decap_protocols` (legacy `decap_type`): DeepFlow's numbers or names; VXLAN-NSH (5),
/// which tapflow does not read, is named in `warnings`; 0 (none) is ignored.
pub(super) fn decap_set(
    list: &[raw::TunnelName],
    warnings: &mut Vec<String>,
) -> Result<TunnelSet, ConfigError> {
    const KEY: &str = "inputs.cbpf.preprocess.tunnel_decap_protocols";
    let mut set = TunnelSet::EMPTY;
    for t in list {
        let kind = match t {
            raw::TunnelName::Number(0) => continue,
            raw::TunnelName::Number(5) => {
                warnings.push(format!(
                    "{KEY}: 5 (VXLAN-NSH) is not decapsulated by tapflow"
                ));
                continue;
            }
            raw::TunnelName::Number(n) => TunnelType::from_number(*n),
            raw::TunnelName::Name(s) => TunnelType::from_name(s),
        };
        set = set.with(kind.ok_or_else(|| ConfigError::Invalid {
            key: KEY,
            problem: format!(
                "unknown tunnel {}: expected 1 VXLAN, 2 IPIP, 3 GRE, 4 GENEVE, 6 ERSPAN, 7 TEB (or the name)",
                match t {
                    raw::TunnelName::Number(n) => n.to_string(),
                    raw::TunnelName::Name(s) => format!("'{s}'"),
                }
            ),
        })?);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use tapflow_analyzer::wire::{TunnelSet, TunnelType};

    #[test]
    fn decap_protocols_by_number_or_name_with_the_trimmed_ones() {
        let d = Config::from_yaml("").unwrap().analyzer.decode;
        assert_eq!(d.decap, TunnelSet::ALL);
        let c = Config::from_yaml(
            "inputs:\n  cbpf:\n    preprocess:\n      tunnel_decap_protocols: [1, ipip, 0, 5]\n",
        )
        .unwrap();
        let d = c.analyzer.decode;
        assert_eq!(
            d.decap,
            TunnelSet::EMPTY
                .with(TunnelType::Vxlan)
                .with(TunnelType::Ipip)
        );
        assert!(d.decapsulates(TunnelType::Erspan), "trimmed: always peeled");
        assert!(!d.decapsulates(TunnelType::Geneve) && !d.decapsulates(TunnelType::Gre));
        assert!(
            c.warnings.iter().any(|w| w.contains("VXLAN-NSH")),
            "{:?}",
            c.warnings
        );
        let legacy = Config::from_yaml("decap_type: [3]\n").unwrap();
        assert_eq!(
            legacy.analyzer.decode.decap,
            TunnelSet::EMPTY.with(TunnelType::Gre)
        );
        let none = Config::from_yaml(
            "inputs:\n  cbpf:\n    preprocess:\n      tunnel_decap_protocols: []\n",
        )
        .unwrap();
        assert_eq!(none.analyzer.decode.decap, TunnelSet::EMPTY);
        for bad in ["[9]", "[wireguard]"] {
            let e = Config::from_yaml(&format!(
                "inputs:\n  cbpf:\n    preprocess:\n      tunnel_decap_protocols: {bad}\n"
            ))
            .unwrap_err()
            .to_string();
            assert!(
                e.contains("tunnel_decap_protocols") && e.contains("unknown tunnel"),
                "{e}"
            );
        }
    }
}
