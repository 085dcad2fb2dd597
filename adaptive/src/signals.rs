//! The facts a caller supplies about a login, and the values it stores between logins.

use std::net::IpAddr;

use crate::CountryCode;

/// A coarse location from a GeoIP lookup, in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GeoPoint {
    /// Latitude, -90 to 90.
    pub lat: f64,
    /// Longitude, -180 to 180.
    pub lon: f64,
}

impl GeoPoint {
    /// Great-circle distance in kilometres (haversine, mean Earth radius 6371 km).
    pub fn distance_km(&self, other: &GeoPoint) -> f64 {
        let (lat1, lat2) = (self.lat.to_radians(), other.lat.to_radians());
        let dlat = lat2 - lat1;
        let dlon = (other.lon - self.lon).to_radians();
        let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * 6371.0 * h.sqrt().min(1.0).asin()
    }
}

/// A previous successful login of the same user.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PastLogin {
    /// When (unix seconds).
    pub at: u64,
    /// From which address.
    pub ip: IpAddr,
    /// Country of the address, if the caller looked it up.
    #[cfg_attr(feature = "serde", serde(default))]
    pub country: Option<CountryCode>,
    /// Location of the address, if the caller looked it up.
    #[cfg_attr(feature = "serde", serde(default))]
    pub location: Option<GeoPoint>,
}

/// A device the user registered by passing a challenge. The server stores these.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RegisteredDevice {
    /// The device identifier or fingerprint hash the caller uses.
    pub id: String,
    /// When it was first registered (unix seconds).
    pub registered_at: u64,
    /// Until when it is trusted (unix seconds, exclusive).
    pub trusted_until: u64,
}

impl RegisteredDevice {
    /// Whether the device is trusted at `now`.
    pub fn is_trusted(&self, now: u64) -> bool {
        now < self.trusted_until
    }
}

/// Everything known about one login attempt.
#[derive(Debug, Clone, Copy)]
pub struct LoginAttempt<'a> {
    /// The user name.
    pub user: &'a str,
    /// The application the user logs in to.
    pub application: &'a str,
    /// The time of the attempt (unix seconds).
    pub now: u64,
    /// The client address.
    pub ip: IpAddr,
    /// The device identifier or fingerprint hash, if the client has one.
    pub device: Option<&'a str>,
    /// Country of the client address, if looked up.
    pub country: Option<CountryCode>,
    /// Location of the client address, if looked up.
    pub location: Option<GeoPoint>,
    /// The user's registered devices.
    pub registered_devices: &'a [RegisteredDevice],
    /// The user's recent successful logins, in any order.
    pub history: &'a [PastLogin],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_between_known_cities() {
        let paris = GeoPoint {
            lat: 48.8566,
            lon: 2.3522,
        };
        let london = GeoPoint {
            lat: 51.5074,
            lon: -0.1278,
        };
        let sydney = GeoPoint {
            lat: -33.8688,
            lon: 151.2093,
        };
        let d = paris.distance_km(&london);
        assert!((d - 343.5).abs() < 2.0, "{d}");
        let d = london.distance_km(&sydney);
        assert!((d - 16_990.0).abs() < 30.0, "{d}");
        assert!(paris.distance_km(&paris).abs() < 1e-9);
    }
}
