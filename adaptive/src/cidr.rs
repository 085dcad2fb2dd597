//! Longest-prefix lookup over many CIDR ranges.
//!
//! The ranges are flattened once into sorted, non-overlapping segments, each labelled with the
//! most specific range that covers it (CIDR ranges are either nested or disjoint, so a sweep
//! over the ranges sorted by start address builds this in O(n log n)). A lookup is then one
//! binary search: O(log n), no allocation.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

const NONE: u32 = u32::MAX;

/// Sorted segment starts with the entry that covers each segment.
#[derive(Debug, Clone, Default)]
struct Segments {
    starts: Vec<u128>,
    labels: Vec<u32>,
}

impl Segments {
    fn push(&mut self, start: u128, label: u32) {
        if self.starts.last() == Some(&start) {
            if let Some(last) = self.labels.last_mut() {
                *last = label;
            }
        } else if self.labels.last() != Some(&label) {
            self.starts.push(start);
            self.labels.push(label);
        }
    }

    /// `ranges`: (first address, last address, prefix length, entry index).
    fn build(mut ranges: Vec<(u128, u128, u8, u32)>, max: u128) -> Segments {
        ranges.sort_unstable_by_key(|&(start, _, len, idx)| (start, len, idx));
        // The same range listed twice: the first listing wins.
        ranges.dedup_by_key(|&mut (start, _, len, _)| (start, len));
        let mut seg = Segments::default();
        seg.push(0, NONE);
        let mut open: Vec<(u128, u32)> = Vec::new();
        let close = |seg: &mut Segments, open: &mut Vec<(u128, u32)>| {
            if let Some((end, _)) = open.pop() {
                let below = open.last().map_or(NONE, |&(_, idx)| idx);
                if end < max {
                    seg.push(end + 1, below);
                }
            }
        };
        for (start, end, _, idx) in ranges {
            while open.last().is_some_and(|&(open_end, _)| open_end < start) {
                close(&mut seg, &mut open);
            }
            seg.push(start, idx);
            open.push((end, idx));
        }
        while !open.is_empty() {
            close(&mut seg, &mut open);
        }
        seg.starts.shrink_to_fit();
        seg.labels.shrink_to_fit();
        seg
    }

    fn find(&self, key: u128) -> Option<u32> {
        let i = self.starts.partition_point(|&s| s <= key);
        let label = *self.labels.get(i.checked_sub(1)?)?;
        (label != NONE).then_some(label)
    }
}

/// A set of IPv4 and IPv6 ranges, each with a value, answering "which is the most specific
/// range containing this address" in O(log n).
///
/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) are looked up as IPv4. Host bits set in a
/// range (`192.0.2.7/24`) are cleared.
#[derive(Clone)]
pub struct CidrMap<T> {
    entries: Vec<(IpNet, T)>,
    v4: Segments,
    v6: Segments,
}

/// Summarises: a map may hold hundreds of thousands of ranges.
impl<T> fmt::Debug for CidrMap<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CidrMap")
            .field("ranges", &self.entries.len())
            .field("ipv4_segments", &self.v4.starts.len())
            .field("ipv6_segments", &self.v6.starts.len())
            .finish()
    }
}

impl<T> Default for CidrMap<T> {
    fn default() -> Self {
        CidrMap {
            entries: Vec::new(),
            v4: Segments::default(),
            v6: Segments::default(),
        }
    }
}

impl<T> CidrMap<T> {
    /// Builds the map. When the same range is given more than once, the first value is kept.
    pub fn new(ranges: impl IntoIterator<Item = (IpNet, T)>) -> CidrMap<T> {
        let mut entries = Vec::new();
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (net, value) in ranges {
            let net = net.trunc();
            let idx = u32::try_from(entries.len()).unwrap_or(NONE - 1);
            match net {
                IpNet::V4(n) => v4.push((
                    u128::from(u32::from(n.network())),
                    u128::from(u32::from(n.broadcast())),
                    n.prefix_len(),
                    idx,
                )),
                IpNet::V6(n) => v6.push((
                    u128::from(n.network()),
                    u128::from(n.broadcast()),
                    n.prefix_len(),
                    idx,
                )),
            }
            entries.push((net, value));
        }
        CidrMap {
            entries,
            v4: Segments::build(v4, u128::from(u32::MAX)),
            v6: Segments::build(v6, u128::MAX),
        }
    }

    /// The most specific range containing `ip`, with its value.
    pub fn longest_match(&self, ip: IpAddr) -> Option<(IpNet, &T)> {
        let label = match ip.to_canonical() {
            IpAddr::V4(v4) => self.v4.find(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => self.v6.find(u128::from(v6)),
        }?;
        self.entries
            .get(label as usize)
            .map(|(net, value)| (*net, value))
    }

    /// Whether any range contains `ip`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.longest_match(ip).is_some()
    }

    /// Number of ranges given (including repeats).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map has no ranges.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn brute(ranges: &[(IpNet, usize)], ip: IpAddr) -> Option<(IpNet, &usize)> {
        let ip = ip.to_canonical();
        let mut best: Option<(IpNet, &usize)> = None;
        for (n, v) in ranges {
            let n = n.trunc();
            if n.contains(&ip) && best.is_none_or(|(b, _)| n.prefix_len() > b.prefix_len()) {
                best = Some((n, v));
            }
        }
        best
    }

    #[test]
    fn nested_and_adjacent_ranges() {
        let ranges: Vec<(IpNet, usize)> = [
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.2.0/24",
            "10.1.2.3/32",
            "10.255.255.0/24",
            "0.0.0.0/0",
            "2001:db8::/32",
            "2001:db8:1::/48",
            "::/0",
            "10.1.0.0/16",
        ]
        .iter()
        .enumerate()
        .map(|(i, s)| (net(s), i))
        .collect();
        let map = CidrMap::new(ranges.clone());
        let cases = [
            ("10.1.2.3", "10.1.2.3/32", 3),
            ("10.1.2.4", "10.1.2.0/24", 2),
            ("10.1.3.0", "10.1.0.0/16", 1),
            ("10.2.0.0", "10.0.0.0/8", 0),
            ("10.255.255.255", "10.255.255.0/24", 4),
            ("11.0.0.0", "0.0.0.0/0", 5),
            ("255.255.255.255", "0.0.0.0/0", 5),
            ("::ffff:10.1.2.3", "10.1.2.3/32", 3),
            ("2001:db8:1::9", "2001:db8:1::/48", 7),
            ("2001:db8:2::9", "2001:db8::/32", 6),
            ("ffff::1", "::/0", 8),
        ];
        for (ip, want_net, want_value) in cases {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(
                map.longest_match(ip),
                Some((net(want_net), &want_value)),
                "{ip}"
            );
            assert_eq!(map.longest_match(ip), brute(&ranges, ip), "{ip}");
        }
        assert_eq!(
            format!("{map:?}"),
            "CidrMap { ranges: 10, ipv4_segments: 10, ipv6_segments: 5 }"
        );
        let empty: CidrMap<()> = CidrMap::new([]);
        assert!(!empty.contains("10.0.0.1".parse().unwrap()));
        assert!(empty.is_empty());
    }

    #[test]
    fn edges_of_a_range_and_outside() {
        let map = CidrMap::new([(net("192.0.2.0/24"), ()), (net("255.255.255.0/24"), ())]);
        for (ip, inside) in [
            ("192.0.1.255", false),
            ("192.0.2.0", true),
            ("192.0.2.255", true),
            ("192.0.3.0", false),
            ("255.255.255.255", true),
            ("0.0.0.0", false),
            ("::", false),
        ] {
            assert_eq!(map.contains(ip.parse().unwrap()), inside, "{ip}");
        }
    }

    fn v4_range() -> impl Strategy<Value = IpNet> {
        // Clustered addresses so that ranges nest and touch often.
        (0u32..64, 0u8..=32).prop_map(|(hi, len)| {
            let addr = std::net::Ipv4Addr::from(hi.rotate_right(6) | (hi & 3));
            IpNet::new(IpAddr::V4(addr), len).unwrap().trunc()
        })
    }

    fn v6_range() -> impl Strategy<Value = IpNet> {
        (0u128..64, 0u8..=128).prop_map(|(hi, len)| {
            let addr = std::net::Ipv6Addr::from(hi.rotate_right(6) | (hi & 3));
            IpNet::new(IpAddr::V6(addr), len).unwrap().trunc()
        })
    }

    proptest! {
        #[test]
        fn ipv6_longest_match_agrees_with_linear_scan(
            ranges in proptest::collection::vec(v6_range(), 0..40),
            near in proptest::collection::vec((0u128..64, any::<u16>()), 1..40),
        ) {
            let ranges: Vec<(IpNet, usize)> = ranges.into_iter().enumerate().map(|(i, n)| (n, i)).collect();
            let map = CidrMap::new(ranges.clone());
            for (hi, lo) in near {
                let ip = IpAddr::V6((hi.rotate_right(6) | u128::from(lo)).into());
                prop_assert_eq!(map.longest_match(ip), brute(&ranges, ip));
            }
        }

        #[test]
        fn longest_match_agrees_with_linear_scan(
            ranges in proptest::collection::vec(v4_range(), 0..40),
            probes in proptest::collection::vec(any::<u32>(), 1..40),
            near in proptest::collection::vec((0u32..64, any::<u8>()), 1..40),
        ) {
            let ranges: Vec<(IpNet, usize)> = ranges.into_iter().enumerate().map(|(i, n)| (n, i)).collect();
            let map = CidrMap::new(ranges.clone());
            let near = near.into_iter().map(|(hi, lo)| hi.rotate_right(6) | u32::from(lo));
            for p in probes.into_iter().chain(near) {
                let ip = IpAddr::V4(p.into());
                // Repeated ranges keep the first value, as brute force does.
                prop_assert_eq!(map.longest_match(ip), brute(&ranges, ip));
            }
        }
    }
}
