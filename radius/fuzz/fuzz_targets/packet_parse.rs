//! Parse, rebuild from the parsed attributes, parse again, compare; decode every attribute
//! with the dictionary and require byte-exact re-encoding.
#![no_main]

use idforge_radius::PacketBuilder;
use idforge_radius::{Attribute, Packet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::parse(data) else {
        return;
    };
    let mut buf = Vec::new();
    let mut builder = PacketBuilder::new(
        &mut buf,
        packet.code(),
        packet.identifier(),
        packet.authenticator(),
    );
    for raw in packet.attributes() {
        builder.push(raw.attr_type, raw.value).expect("attribute fits");
        if let Ok(attr) = Attribute::decode(raw) {
            let mut again = Vec::new();
            attr.encode_value(&mut again);
            assert_eq!(again, raw.value, "type {:?}", raw.attr_type);
        }
    }
    let rebuilt = builder.finish().to_vec();
    assert_eq!(rebuilt, packet.as_bytes());
    let again = Packet::parse_strict(&rebuilt).expect("rebuilt packet parses");
    assert_eq!(again.attributes().count(), packet.attributes().count());
});
