//! SP metadata and metadata aggregates on arbitrary bytes: parse, then pick every
//! entity of an aggregate and resolve its ACS; nothing may panic.
#![no_main]

use idforge_saml::{MetadataAggregate, MetadataOptions, SpMetadata};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(md) = SpMetadata::parse(data) {
        let _ = md.resolve_acs(None, None);
    }
    let Some(now) = chrono::DateTime::from_timestamp(1_700_000_000, 0) else {
        return;
    };
    let opts = MetadataOptions::at(now);
    let _ = SpMetadata::parse_with(data, &opts);
    if let Ok(feed) = MetadataAggregate::parse(data, &opts) {
        let ids: Vec<String> = feed.entity_ids().map(str::to_owned).collect();
        assert_eq!(ids.len(), feed.len());
        for id in &ids {
            if let Ok(md) = feed.sp(id) {
                assert_eq!(&md.entity_id, id);
                let _ = md.resolve_acs(None, None);
            }
        }
    }
});
