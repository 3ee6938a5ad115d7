//! Where a webhook may point. A webhook makes CloudGrid send requests on a user's
//! behalf, so it must not reach what only CloudGrid can: loopback, private networks,
//! link-local addresses (cloud metadata endpoints among them) and other addresses that
//! are not on the public internet. A URL is checked when the channel is saved (its
//! spelling and any address it names) and again when it is used (every address its name
//! resolves to; see [`forbidden`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::deliver::AllowList;

/// Longest webhook URL.
pub const MAX_URL: usize = 2048;

/// Checks a webhook URL as written: `http` or `https`, a host, no credentials, and no
/// address (however spelt: decimal, octal, hex, IPv6-mapped…) that is not public.
pub fn check_url(text: &str) -> Result<url::Url, String> {
    check_host(text, &AllowList::default())
}

/// [`check_url`], letting through addresses in `allow` (a company's internal receivers).
pub fn check_host(text: &str, allow: &AllowList) -> Result<url::Url, String> {
    if text.len() > MAX_URL {
        return Err(format!("at most {MAX_URL} bytes"));
    }
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("a URL has no spaces or control characters".into());
    }
    let url = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{}` URLs are not allowed: use http or https", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the URL are not allowed: the request is signed instead".into());
    }
    if url.fragment().is_some() {
        return Err("a webhook URL has no fragment (#…)".into());
    }
    match url.host() {
        None => Err("the URL needs a host".into()),
        Some(url::Host::Ipv4(ip)) => match forbidden(IpAddr::V4(ip)) {
            Some(why) if !allow.contains(IpAddr::V4(ip)) => Err(refused(&ip.to_string(), why)),
            _ => Ok(()),
        },
        Some(url::Host::Ipv6(ip)) => match forbidden(IpAddr::V6(ip)) {
            Some(why) if !allow.contains(IpAddr::V6(ip)) => Err(refused(&ip.to_string(), why)),
            _ => Ok(()),
        },
        Some(url::Host::Domain(name)) => forbidden_name(name).map_or(Ok(()), |why| Err(refused(name, why))),
    }?;
    Ok(url)
}

fn refused(host: &str, why: &str) -> String {
    format!("`{host}` is {why}: webhooks go to public addresses only")
}

/// Names that stand for this machine or a cloud's metadata service whatever DNS says.
fn forbidden_name(name: &str) -> Option<&'static str> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") || name == "localhost.localdomain" {
        return Some("this machine");
    }
    if name == "metadata.google.internal" || name == "metadata" || name == "instance-data" || name.ends_with(".internal") {
        return Some("an internal name");
    }
    None
}

/// Why `ip` is no place for a webhook, if it is not.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address (cloud metadata lives there)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else if a == 192 && b == 0 && c == 0 {
        Some("a protocol-assignment address")
    } else if ip.is_documentation() || (a == 198 && (b == 18 || b == 19)) {
        Some("a reserved address")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("a multicast or reserved address")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    // Addresses that carry an IPv4 address: judged by it.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        // IPv4-compatible (deprecated): ::a.b.c.d
        return forbidden_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8)).or(Some("an IPv4-compatible address"));
    }
    if s[0] == 0x64 && s[1] == 0xff9b {
        // NAT64 translates to the IPv4 address in its last 32 bits.
        return forbidden_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
    }
    if s[0] == 0x2002 {
        // 6to4 embeds an IPv4 address after its prefix.
        return forbidden_v4(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if s[0] & 0xfe00 == 0xfc00 {
        Some("a private (unique local) address")
    } else if s[0] & 0xffc0 == 0xfe80 || s[0] & 0xffc0 == 0xfec0 {
        Some("a link-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if s[0] == 0x2001 && s[1] == 0 {
        Some("a Teredo tunnel address")
    } else if s[0] == 0x2001 && s[1] == 0xdb8 {
        Some("a documentation address")
    } else if s[0] == 0x0100 && s[1..4] == [0, 0, 0] {
        Some("a discard address")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_an_inside_address_is_refused() {
        let refused = [
            "http://127.0.0.1/hook",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://0x7f.0.0.1/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://017700000001/",
            "http://127.000.000.001/",
            "http://0.0.0.0/",
            "http://0/",
            "http://[::1]/",
            "http://[::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[0:0:0:0:0:ffff:169.254.169.254]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:a9fe:a9fe::1]/",
            "http://[fe80::1]/",
            "http://[fc00::1]/",
            "http://[fd00:ec2::254]/",
            "http://[2001:0::1]/",
            "http://10.0.0.1/",
            "http://10.255.255.255:8080/",
            "http://172.16.0.1/",
            "http://172.31.255.254/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://169.254.0.1/",
            "http://100.64.0.1/",
            "http://100.127.255.254/",
            "http://192.0.0.170/",
            "http://198.18.0.1/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://240.0.0.1/",
            "http://localhost/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://user:pass@example.com/",
            "http://example.com@127.0.0.1/",
            "http://127.0.0.1%2f@example.com/",
            "ftp://example.com/",
            "file:///etc/passwd",
            "gopher://example.com/",
            "http://:8080/",
            "http://example.com/a b",
            "http://example.com/#frag",
            "javascript:alert(1)",
        ];
        assert!(refused.len() >= 40);
        for url in refused {
            assert!(check_url(url).is_err(), "{url} is refused");
        }
    }

    #[test]
    fn public_addresses_and_names_pass() {
        for url in [
            "https://hooks.example.com/cloudgrid",
            "http://example.com:8080/path?q=1",
            "https://93.184.216.34/",
            "https://[2606:2800:220:1:248:1893:25c8:1946]/",
            "https://100.128.0.1/",
            "https://172.32.0.1/",
        ] {
            assert!(check_url(url).is_ok(), "{url} passes: {:?}", check_url(url));
        }
    }

    #[test]
    fn refusals_say_why() {
        let e = check_url("http://169.254.169.254/").expect_err("metadata");
        assert!(e.contains("link-local") && e.contains("public addresses only"), "{e}");
        let e = check_url("http://u:p@example.com/").expect_err("credentials");
        assert!(e.contains("credentials"), "{e}");
    }
}
