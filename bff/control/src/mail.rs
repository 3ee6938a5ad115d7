//! Email the control plane sends (invitations), over SMTP with lettre, or not at all
//! when delivery is explicitly disabled, in which case callers hand out the link
//! themselves.
//!
//! Addresses are parsed, never pasted into headers; every text that comes from users
//! (names of people, companies and projects) is made one line before it goes into a
//! subject, so no input can add a header or a recipient.

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text (a relay on the same host or network only).
    None,
    /// Upgraded with STARTTLS, which the server must offer.
    StartTls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

impl SmtpTls {
    pub fn parse(s: &str) -> Result<Self, MailError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "plain" => Ok(SmtpTls::None),
            "starttls" => Ok(SmtpTls::StartTls),
            "tls" | "smtps" => Ok(SmtpTls::Tls),
            other => Err(MailError::Config(format!("CLOUDGRID_SMTP_TLS must be none, starttls or tls, got `{other}`"))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `CloudGrid <noreply@example.com>` or a bare address.
    pub from: String,
    pub timeout: Duration,
}

/// Whether and how email goes out.
#[derive(Debug, Clone)]
pub enum MailConfig {
    /// Nothing is sent: the API says so and returns links for manual delivery.
    Disabled,
    Smtp(SmtpConfig),
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("email configuration: {0}")]
    Config(String),
    #[error("invalid recipient: {0}")]
    Recipient(String),
    #[error("sending email failed: {0}")]
    Send(String),
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The SMTP server accepted it.
    Sent,
    /// Delivery is disabled: pass the link on yourself.
    Disabled,
    /// The server could not be reached or refused it; the reason, for the sender.
    Failed(String),
}

/// Sends email as configured.
#[derive(Clone)]
pub struct Mailer {
    transport: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.transport.is_some() { "Mailer(smtp)" } else { "Mailer(disabled)" })
    }
}

impl Mailer {
    pub fn disabled() -> Self {
        Self { transport: None }
    }

    pub fn new(config: &MailConfig) -> Result<Self, MailError> {
        let MailConfig::Smtp(smtp) = config else { return Ok(Self::disabled()) };
        let from: Mailbox = smtp
            .from
            .parse()
            .map_err(|e| MailError::Config(format!("CLOUDGRID_SMTP_FROM `{}`: {e}", smtp.from.escape_debug())))?;
        let builder = match smtp.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                .map_err(|e| MailError::Config(format!("SMTP host {}: {e}", smtp.host)))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
                .map_err(|e| MailError::Config(format!("SMTP host {}: {e}", smtp.host)))?,
        };
        let mut builder = builder.port(smtp.port).timeout(Some(smtp.timeout));
        match (&smtp.username, &smtp.password) {
            (Some(user), Some(pass)) => builder = builder.credentials(Credentials::new(user.clone(), pass.clone())),
            (None, None) => {}
            _ => return Err(MailError::Config("set both CLOUDGRID_SMTP_USERNAME and CLOUDGRID_SMTP_PASSWORD, or neither".into())),
        }
        Ok(Self { transport: Some((builder.build(), from)) })
    }

    pub fn enabled(&self) -> bool {
        self.transport.is_some()
    }

    /// Sends a plain-text message to `to`.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Delivery {
        self.send_with_id(to, subject, body, None).await
    }

    /// The same with the given `Message-ID` (`<id@domain>`), so a message sent again is
    /// known to be the same one.
    pub async fn send_with_id(&self, to: &str, subject: &str, body: &str, message_id: Option<&str>) -> Delivery {
        let Some((transport, from)) = &self.transport else { return Delivery::Disabled };
        let message = match compose(from.clone(), to, subject, body, message_id) {
            Ok(m) => m,
            Err(e) => return Delivery::Failed(e.to_string()),
        };
        match transport.send(message).await {
            Ok(_) => Delivery::Sent,
            Err(e) => {
                tracing::warn!(error = %e, "email not sent");
                Delivery::Failed(format!("the mail server did not take the message: {e}"))
            }
        }
    }
}

/// One line of at most `max` characters: control characters (line breaks included)
/// become spaces, runs of spaces one.
pub fn one_line(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    for c in text.chars().map(|c| if c.is_control() { ' ' } else { c }) {
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        if out.chars().count() >= max {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out.trim_end().to_string()
}

fn compose(from: Mailbox, to: &str, subject: &str, body: &str, message_id: Option<&str>) -> Result<Message, MailError> {
    let to: Mailbox = to
        .parse::<lettre::Address>()
        .map(|a| Mailbox::new(None, a))
        .map_err(|e| MailError::Recipient(format!("`{}`: {e}", to.escape_debug())))?;
    Message::builder()
        .message_id(message_id.map(String::from))
        .from(from)
        .to(to)
        .subject(one_line(subject, 200))
        .header(ContentType::TEXT_PLAIN)
        .body(body.replace("\r\n", "\n").replace('\r', "\n"))
        .map_err(|e| MailError::Send(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_cannot_break_out_of_the_subject_or_add_recipients() {
        assert_eq!(one_line("Acme\r\nBcc: victim@example.com", 200), "Acme Bcc: victim@example.com");
        assert_eq!(one_line("a\n\n\tb", 200), "a b");
        assert_eq!(one_line(&"x".repeat(300), 10).chars().count(), 11);
        let from: Mailbox = "CloudGrid <noreply@example.com>".parse().expect("from");
        let m = compose(from.clone(), "ann@example.com", "Join Acme\r\nBcc: eve@example.com", "hi", None).expect("message");
        let text = String::from_utf8(m.formatted()).expect("utf-8");
        let headers = text.split("\r\n\r\n").next().expect("headers");
        assert!(!headers.to_ascii_lowercase().contains("\r\nbcc:"), "{headers}");
        assert_eq!(m.envelope().to().len(), 1);
        for to in ["ann@example.com\r\nBcc: eve@example.com", "ann@example.com, eve@example.com", "Ann <ann@example.com>"] {
            assert!(compose(from.clone(), to, "s", "b", None).is_err(), "{to:?}");
        }
    }
}
