//! Names for the values of enumerated attributes (RFC 2865 §5, RFC 2866 §5, RFC 2868 §3,
//! RFC 2869, RFC 3580, RFC 5176 §3.5).
//!
//! The wire value of an enumerated attribute is a 32-bit integer, and attributes decode to
//! [`Value::Integer`](crate::Value::Integer) so that every packet round-trips byte for byte.
//! These enums give the integers names. Each keeps values it does not know in `Unknown(u32)`,
//! converts from and to `u32` without loss, and is `#[non_exhaustive]` so that names can be
//! added later.
//!
//! ```
//! use idforge_radius::{AcctStatusType, ServiceType};
//! use idforge_radius::{Attribute, AttributeType};
//!
//! assert_eq!(ServiceType::from(2), ServiceType::FramedUser);
//! assert_eq!(u32::from(AcctStatusType::InterimUpdate), 3);
//! assert_eq!(ServiceType::from(99), ServiceType::Unknown(99));
//! assert_eq!(AttributeType::SERVICE_TYPE.value_name(8), Some("Authenticate-Only"));
//! let attr = Attribute::integer(AttributeType::SERVICE_TYPE, ServiceType::FramedUser.into());
//! assert_eq!(attr.value, idforge_radius::Value::Integer(2));
//! ```

use core::fmt;

use crate::attribute::AttributeType;

macro_rules! value_enum {
    (
        $(#[$meta:meta])*
        $name:ident for $attr:ident {
            $($(#[$vmeta:meta])* $variant:ident = $value:literal, $text:literal;)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value without a name here; kept as received.
            Unknown(u32),
        }

        impl $name {
            /// The attribute whose values these are.
            pub const ATTRIBUTE: AttributeType = AttributeType::$attr;

            /// The name the RFC (and the FreeRADIUS dictionary) gives the value, or `None` for
            /// an unknown value.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $(Self::$variant => Some($text),)+
                    Self::Unknown(_) => None,
                }
            }
        }

        impl From<u32> for $name {
            fn from(value: u32) -> Self {
                match value {
                    $($value => Self::$variant,)+
                    other => Self::Unknown(other),
                }
            }
        }

        impl From<$name> for u32 {
            fn from(value: $name) -> Self {
                match value {
                    $($name::$variant => $value,)+
                    $name::Unknown(other) => other,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "{}", u32::from(*self)),
                }
            }
        }
    };
}

value_enum! {
    /// Service-Type (RFC 2865 §5.6).
    ServiceType for SERVICE_TYPE {
        /// Login-User.
        LoginUser = 1, "Login-User";
        /// Framed-User.
        FramedUser = 2, "Framed-User";
        /// Callback-Login-User.
        CallbackLoginUser = 3, "Callback-Login-User";
        /// Callback-Framed-User.
        CallbackFramedUser = 4, "Callback-Framed-User";
        /// Outbound-User.
        OutboundUser = 5, "Outbound-User";
        /// Administrative-User.
        AdministrativeUser = 6, "Administrative-User";
        /// NAS-Prompt-User.
        NasPromptUser = 7, "NAS-Prompt-User";
        /// Authenticate-Only.
        AuthenticateOnly = 8, "Authenticate-Only";
        /// Callback-NAS-Prompt.
        CallbackNasPrompt = 9, "Callback-NAS-Prompt";
        /// Call-Check.
        CallCheck = 10, "Call-Check";
        /// Callback-Administrative.
        CallbackAdministrative = 11, "Callback-Administrative";
    }
}

value_enum! {
    /// Framed-Protocol (RFC 2865 §5.7).
    FramedProtocol for FRAMED_PROTOCOL {
        /// PPP.
        Ppp = 1, "PPP";
        /// SLIP.
        Slip = 2, "SLIP";
        /// AppleTalk Remote Access Protocol.
        Arap = 3, "ARAP";
        /// Gandalf proprietary SingleLink/MultiLink.
        GandalfSlml = 4, "Gandalf-SLML";
        /// Xylogics proprietary IPX/SLIP.
        XylogicsIpxSlip = 5, "Xylogics-IPX-SLIP";
        /// X.75 Synchronous.
        X75Synchronous = 6, "X.75-Synchronous";
    }
}

value_enum! {
    /// Framed-Routing (RFC 2865 §5.10).
    FramedRouting for FRAMED_ROUTING {
        /// None.
        None = 0, "None";
        /// Send routing packets.
        Broadcast = 1, "Broadcast";
        /// Listen for routing packets.
        Listen = 2, "Listen";
        /// Send and listen.
        BroadcastListen = 3, "Broadcast-Listen";
    }
}

value_enum! {
    /// Framed-Compression (RFC 2865 §5.13).
    FramedCompression for FRAMED_COMPRESSION {
        /// None.
        None = 0, "None";
        /// VJ TCP/IP header compression.
        VanJacobsonTcpIp = 1, "Van-Jacobson-TCP-IP";
        /// IPX header compression.
        IpxHeaderCompression = 2, "IPX-Header-Compression";
        /// Stac-LZS compression.
        StacLzs = 3, "Stac-LZS";
    }
}

value_enum! {
    /// Login-Service (RFC 2865 §5.15).
    LoginService for LOGIN_SERVICE {
        /// Telnet.
        Telnet = 0, "Telnet";
        /// Rlogin.
        Rlogin = 1, "Rlogin";
        /// TCP Clear.
        TcpClear = 2, "TCP-Clear";
        /// PortMaster (proprietary).
        PortMaster = 3, "PortMaster";
        /// LAT.
        Lat = 4, "LAT";
        /// X25-PAD.
        X25Pad = 5, "X25-PAD";
        /// X25-T3POS.
        X25T3Pos = 6, "X25-T3POS";
        /// TCP Clear Quiet (suppresses any NAS-generated connect string).
        TcpClearQuiet = 8, "TCP-Clear-Quiet";
    }
}

value_enum! {
    /// Termination-Action (RFC 2865 §5.29).
    TerminationAction for TERMINATION_ACTION {
        /// Default.
        Default = 0, "Default";
        /// RADIUS-Request.
        RadiusRequest = 1, "RADIUS-Request";
    }
}

value_enum! {
    /// NAS-Port-Type (RFC 2865 §5.41; Token-Ring and FDDI from RFC 3580).
    NasPortType for NAS_PORT_TYPE {
        /// Async.
        Async = 0, "Async";
        /// Sync.
        Sync = 1, "Sync";
        /// ISDN Sync.
        Isdn = 2, "ISDN";
        /// ISDN Async V.120.
        IsdnV120 = 3, "ISDN-V120";
        /// ISDN Async V.110.
        IsdnV110 = 4, "ISDN-V110";
        /// Virtual.
        Virtual = 5, "Virtual";
        /// PIAFS.
        Piafs = 6, "PIAFS";
        /// HDLC Clear Channel.
        HdlcClearChannel = 7, "HDLC-Clear-Channel";
        /// X.25.
        X25 = 8, "X.25";
        /// X.75.
        X75 = 9, "X.75";
        /// G.3 Fax.
        G3Fax = 10, "G.3-Fax";
        /// SDSL - Symmetric DSL.
        Sdsl = 11, "SDSL";
        /// ADSL-CAP - Asymmetric DSL, Carrierless Amplitude Phase Modulation.
        AdslCap = 12, "ADSL-CAP";
        /// ADSL-DMT - Asymmetric DSL, Discrete Multi-Tone.
        AdslDmt = 13, "ADSL-DMT";
        /// IDSL - ISDN Digital Subscriber Line.
        Idsl = 14, "IDSL";
        /// Ethernet.
        Ethernet = 15, "Ethernet";
        /// xDSL - Digital Subscriber Line of unknown type.
        Xdsl = 16, "xDSL";
        /// Cable.
        Cable = 17, "Cable";
        /// Wireless - Other.
        WirelessOther = 18, "Wireless-Other";
        /// Wireless - IEEE 802.11.
        Wireless80211 = 19, "Wireless-802.11";
        /// Token-Ring (RFC 3580 §3.23).
        TokenRing = 20, "Token-Ring";
        /// FDDI (RFC 3580 §3.23).
        Fddi = 21, "FDDI";
    }
}

value_enum! {
    /// Acct-Status-Type (RFC 2866 §5.1; Interim-Update from RFC 2869 §2.1).
    AcctStatusType for ACCT_STATUS_TYPE {
        /// Start.
        Start = 1, "Start";
        /// Stop.
        Stop = 2, "Stop";
        /// Interim-Update.
        InterimUpdate = 3, "Interim-Update";
        /// Accounting-On.
        AccountingOn = 7, "Accounting-On";
        /// Accounting-Off.
        AccountingOff = 8, "Accounting-Off";
    }
}

value_enum! {
    /// Acct-Authentic (RFC 2866 §5.6).
    AcctAuthentic for ACCT_AUTHENTIC {
        /// RADIUS.
        Radius = 1, "RADIUS";
        /// Local.
        Local = 2, "Local";
        /// Remote.
        Remote = 3, "Remote";
    }
}

value_enum! {
    /// Acct-Terminate-Cause (RFC 2866 §5.10; 19 to 22 from RFC 3580).
    AcctTerminateCause for ACCT_TERMINATE_CAUSE {
        /// User Request.
        UserRequest = 1, "User-Request";
        /// Lost Carrier.
        LostCarrier = 2, "Lost-Carrier";
        /// Lost Service.
        LostService = 3, "Lost-Service";
        /// Idle Timeout.
        IdleTimeout = 4, "Idle-Timeout";
        /// Session Timeout.
        SessionTimeout = 5, "Session-Timeout";
        /// Admin Reset.
        AdminReset = 6, "Admin-Reset";
        /// Admin Reboot.
        AdminReboot = 7, "Admin-Reboot";
        /// Port Error.
        PortError = 8, "Port-Error";
        /// NAS Error.
        NasError = 9, "NAS-Error";
        /// NAS Request.
        NasRequest = 10, "NAS-Request";
        /// NAS Reboot.
        NasReboot = 11, "NAS-Reboot";
        /// Port Unneeded.
        PortUnneeded = 12, "Port-Unneeded";
        /// Port Preempted.
        PortPreempted = 13, "Port-Preempted";
        /// Port Suspended.
        PortSuspended = 14, "Port-Suspended";
        /// Service Unavailable.
        ServiceUnavailable = 15, "Service-Unavailable";
        /// Callback.
        Callback = 16, "Callback";
        /// User Error.
        UserError = 17, "User-Error";
        /// Host Request.
        HostRequest = 18, "Host-Request";
        /// Supplicant Restart (RFC 3580 §3.10).
        SupplicantRestart = 19, "Supplicant-Restart";
        /// Reauthentication Failure (RFC 3580 §3.10).
        ReauthenticationFailure = 20, "Reauthentication-Failure";
        /// Port Reinitialized (RFC 3580 §3.10).
        PortReinit = 21, "Port-Reinit";
        /// Port Administratively Disabled (RFC 3580 §3.10).
        PortDisabled = 22, "Port-Disabled";
    }
}

value_enum! {
    /// Error-Cause (RFC 5176 §3.5).
    ErrorCause for ERROR_CAUSE {
        /// Residual Session Context Removed.
        ResidualContextRemoved = 201, "Residual-Context-Removed";
        /// Invalid EAP Packet (Ignored).
        InvalidEapPacket = 202, "Invalid-EAP-Packet";
        /// Unsupported Attribute.
        UnsupportedAttribute = 401, "Unsupported-Attribute";
        /// Missing Attribute.
        MissingAttribute = 402, "Missing-Attribute";
        /// NAS Identification Mismatch.
        NasIdentificationMismatch = 403, "NAS-Identification-Mismatch";
        /// Invalid Request.
        InvalidRequest = 404, "Invalid-Request";
        /// Unsupported Service.
        UnsupportedService = 405, "Unsupported-Service";
        /// Unsupported Extension.
        UnsupportedExtension = 406, "Unsupported-Extension";
        /// Invalid Attribute Value.
        InvalidAttributeValue = 407, "Invalid-Attribute-Value";
        /// Administratively Prohibited.
        AdministrativelyProhibited = 501, "Administratively-Prohibited";
        /// Request Not Routable (Proxy).
        ProxyRequestNotRoutable = 502, "Proxy-Request-Not-Routable";
        /// Session Context Not Found.
        SessionContextNotFound = 503, "Session-Context-Not-Found";
        /// Session Context Not Removable.
        SessionContextNotRemovable = 504, "Session-Context-Not-Removable";
        /// Other Proxy Processing Error.
        ProxyProcessingError = 505, "Proxy-Processing-Error";
        /// Resources Unavailable.
        ResourcesUnavailable = 506, "Resources-Unavailable";
        /// Request Initiated.
        RequestInitiated = 507, "Request-Initiated";
        /// Multiple Session Selection Unsupported.
        MultipleSessionSelectionUnsupported = 508, "Multiple-Session-Selection-Unsupported";
    }
}

value_enum! {
    /// Tunnel-Type (RFC 2868 §3.1; VLAN from RFC 3580 §3.31). The attribute is tagged: its
    /// value is [`Value::TaggedInteger`](crate::Value::TaggedInteger)'s `value`.
    TunnelType for TUNNEL_TYPE {
        /// Point-to-Point Tunneling Protocol.
        Pptp = 1, "PPTP";
        /// Layer Two Forwarding.
        L2f = 2, "L2F";
        /// Layer Two Tunneling Protocol.
        L2tp = 3, "L2TP";
        /// Ascend Tunnel Management Protocol.
        Atmp = 4, "ATMP";
        /// Virtual Tunneling Protocol.
        Vtp = 5, "VTP";
        /// IP Authentication Header in the Tunnel-mode.
        Ah = 6, "AH";
        /// IP-in-IP Encapsulation.
        Ip = 7, "IP";
        /// Minimal IP-in-IP Encapsulation.
        MinIp = 8, "MIN-IP";
        /// IP Encapsulating Security Payload in the Tunnel-mode.
        Esp = 9, "ESP";
        /// Generic Route Encapsulation.
        Gre = 10, "GRE";
        /// Bay Dial Virtual Services.
        Dvs = 11, "DVS";
        /// IP-in-IP Tunneling.
        IpInIp = 12, "IP-in-IP";
        /// VLAN assignment (IEEE 802.1X, RFC 3580).
        Vlan = 13, "VLAN";
    }
}

value_enum! {
    /// Tunnel-Medium-Type (RFC 2868 §3.2). Tagged like Tunnel-Type.
    TunnelMediumType for TUNNEL_MEDIUM_TYPE {
        /// IPv4 (IP version 4).
        Ipv4 = 1, "IPv4";
        /// IPv6 (IP version 6).
        Ipv6 = 2, "IPv6";
        /// NSAP.
        Nsap = 3, "NSAP";
        /// HDLC (8-bit multidrop).
        Hdlc = 4, "HDLC";
        /// BBN 1822.
        Bbn1822 = 5, "BBN-1822";
        /// 802 (includes all 802 media plus Ethernet "canonical format").
        Ieee802 = 6, "IEEE-802";
        /// E.163 (POTS).
        E163 = 7, "E.163";
        /// E.164 (SMDS, Frame Relay, ATM).
        E164 = 8, "E.164";
        /// F.69 (Telex).
        F69 = 9, "F.69";
        /// X.121 (X.25, Frame Relay).
        X121 = 10, "X.121";
        /// IPX.
        Ipx = 11, "IPX";
        /// Appletalk.
        Appletalk = 12, "Appletalk";
        /// Decnet IV.
        DecNetIv = 13, "DecNet-IV";
        /// Banyan Vines.
        BanyanVines = 14, "Banyan-Vines";
        /// E.164 with NSAP format subaddress.
        E164Nsap = 15, "E.164-NSAP";
    }
}

impl AttributeType {
    /// The name of `value` for an enumerated attribute this crate names the values of, or
    /// `None` (unknown value, or an attribute without named values).
    pub fn value_name(self, value: u32) -> Option<&'static str> {
        match self {
            Self::SERVICE_TYPE => ServiceType::from(value).name(),
            Self::FRAMED_PROTOCOL => FramedProtocol::from(value).name(),
            Self::FRAMED_ROUTING => FramedRouting::from(value).name(),
            Self::FRAMED_COMPRESSION => FramedCompression::from(value).name(),
            Self::LOGIN_SERVICE => LoginService::from(value).name(),
            Self::TERMINATION_ACTION => TerminationAction::from(value).name(),
            Self::NAS_PORT_TYPE => NasPortType::from(value).name(),
            Self::ACCT_STATUS_TYPE => AcctStatusType::from(value).name(),
            Self::ACCT_AUTHENTIC => AcctAuthentic::from(value).name(),
            Self::ACCT_TERMINATE_CAUSE => AcctTerminateCause::from(value).name(),
            Self::ERROR_CAUSE => ErrorCause::from(value).name(),
            Self::TUNNEL_TYPE => TunnelType::from(value).name(),
            Self::TUNNEL_MEDIUM_TYPE => TunnelMediumType::from(value).name(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value 0..=1000 (and a few large ones) survives u32 -> enum -> u32; exactly
    /// `count` of them have names, and the listed ones have the listed names.
    fn round_trips<E>(count: usize, named: &[(u32, &str)])
    where
        E: From<u32> + Into<u32> + Copy + fmt::Display,
    {
        let mut seen = 0;
        for v in (0..=1000).chain([u32::MAX, 1 << 31, 65_536]) {
            let e = E::from(v);
            assert_eq!(e.into(), v);
            let shown = e.to_string();
            if shown != v.to_string() {
                seen += 1;
            }
            if let Some((_, name)) = named.iter().find(|(n, _)| *n == v) {
                assert_eq!(shown, *name);
            }
        }
        assert_eq!(seen, count);
    }

    #[test]
    fn all_enums_round_trip_and_name_their_values() {
        round_trips::<ServiceType>(
            11,
            &[
                (1, "Login-User"),
                (2, "Framed-User"),
                (11, "Callback-Administrative"),
            ],
        );
        round_trips::<FramedProtocol>(6, &[(1, "PPP"), (6, "X.75-Synchronous")]);
        round_trips::<FramedRouting>(4, &[(0, "None"), (3, "Broadcast-Listen")]);
        round_trips::<FramedCompression>(4, &[(0, "None"), (3, "Stac-LZS")]);
        round_trips::<LoginService>(8, &[(0, "Telnet"), (8, "TCP-Clear-Quiet")]);
        round_trips::<TerminationAction>(2, &[(0, "Default"), (1, "RADIUS-Request")]);
        round_trips::<NasPortType>(
            22,
            &[
                (0, "Async"),
                (15, "Ethernet"),
                (19, "Wireless-802.11"),
                (21, "FDDI"),
            ],
        );
        round_trips::<AcctStatusType>(
            5,
            &[(1, "Start"), (3, "Interim-Update"), (8, "Accounting-Off")],
        );
        round_trips::<AcctAuthentic>(3, &[(1, "RADIUS"), (3, "Remote")]);
        round_trips::<AcctTerminateCause>(22, &[(1, "User-Request"), (18, "Host-Request")]);
        round_trips::<TunnelType>(13, &[(3, "L2TP"), (13, "VLAN")]);
        round_trips::<TunnelMediumType>(15, &[(6, "IEEE-802"), (15, "E.164-NSAP")]);
        round_trips::<ErrorCause>(
            17,
            &[
                (201, "Residual-Context-Removed"),
                (503, "Session-Context-Not-Found"),
            ],
        );
    }

    #[test]
    fn unknown_values_are_kept() {
        assert_eq!(FramedProtocol::from(7), FramedProtocol::Unknown(7));
        assert_eq!(LoginService::from(7), LoginService::Unknown(7));
        assert_eq!(AcctStatusType::from(4), AcctStatusType::Unknown(4));
        assert_eq!(u32::from(ErrorCause::Unknown(999)), 999);
        assert_eq!(ErrorCause::Unknown(999).name(), None);
    }

    #[test]
    fn attribute_types_find_their_names() {
        assert_eq!(ServiceType::ATTRIBUTE, AttributeType::SERVICE_TYPE);
        assert_eq!(
            AttributeType::NAS_PORT_TYPE.value_name(19),
            Some("Wireless-802.11")
        );
        assert_eq!(
            AttributeType::ACCT_TERMINATE_CAUSE.value_name(6),
            Some("Admin-Reset")
        );
        assert_eq!(
            AttributeType::ERROR_CAUSE.value_name(404),
            Some("Invalid-Request")
        );
        assert_eq!(AttributeType::SERVICE_TYPE.value_name(0), None);
        assert_eq!(AttributeType::TUNNEL_TYPE.value_name(13), Some("VLAN"));
        assert_eq!(AttributeType::USER_NAME.value_name(1), None);
    }
    #[test]
    fn enum_values_round_trip_through_a_packet() {
        use crate::attribute::{Attribute, Value};
        use crate::code::Code;
        use crate::packet::{Packet, PacketBuilder};

        let sent = [
            ServiceType::FramedUser,
            ServiceType::Unknown(4242),
            ServiceType::Unknown(u32::MAX),
        ];
        let mut buf = Vec::new();
        let mut b = PacketBuilder::new(&mut buf, Code::AccessAccept, 1, &[0; 16]);
        for s in sent {
            Attribute::integer(AttributeType::SERVICE_TYPE, s.into())
                .encode(&mut b)
                .unwrap();
        }
        let bytes = b.finish().to_vec();
        let p = Packet::parse_strict(&bytes).unwrap();
        let back: Vec<ServiceType> = p
            .find_all(AttributeType::SERVICE_TYPE)
            .map(|raw| match Attribute::decode(raw).unwrap().value {
                Value::Integer(v) => ServiceType::from(v),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(back, sent);
    }
}
