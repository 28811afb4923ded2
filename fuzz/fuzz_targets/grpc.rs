//! The messages the control-plane server accepts (DeepFlow's Synchronizer and tapflow's admin
//! API), decoded from any bytes; the first byte picks the message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use tapflow_control::rpc::{admin, agent};

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 8 {
        0 => drop(agent::SyncRequest::decode(body)),
        1 => drop(agent::UpgradeRequest::decode(body)),
        2 => drop(agent::NtpRequest::decode(body)),
        3 => drop(agent::KubernetesApiSyncRequest::decode(body)),
        4 => drop(admin::SetGroupConfigRequest::decode(body)),
        5 => drop(admin::CreateGroupRequest::decode(body)),
        6 => drop(admin::DeleteGroupRequest::decode(body)),
        _ => drop(admin::ListAgentsRequest::decode(body)),
    }
});
