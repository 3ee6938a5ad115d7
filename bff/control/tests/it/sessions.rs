//! Sessions of people signed in through an identity provider: one identity is one user
//! however its sign-ins race, a session stands for its user until it ends or expires,
//! and only a digest of its token is stored.

use std::time::Duration;

use cloudgrid_control::access::Principal;
use cloudgrid_control::{ControlError, SsoIdentity};
use futures::future::join_all;

use crate::tenancy::{control, user};

fn identity(subject: &str, email: &str) -> SsoIdentity {
    SsoIdentity { issuer: "https://login.example.com".into(), subject: subject.into(), email: email.into(), name: Some("Ann".into()) }
}

#[tokio::test]
async fn one_identity_is_one_user_however_its_sign_ins_race() {
    let control = control().await;
    let ann = identity("ann-sub", "Ann@Example.com");
    let tries = join_all((0..20).map(|_| control.sign_in(&ann, Duration::from_secs(60)))).await;
    let mut users = Vec::new();
    let mut tokens = Vec::new();
    for t in tries {
        // A sign-in that lost a race on the new user's email is refused, never doubled.
        match t {
            Ok(s) => {
                users.push(s.user.id);
                tokens.push(s.token);
            }
            Err(ControlError::Conflict(_)) => {}
            Err(e) => panic!("sign-in failed: {e}"),
        }
    }
    assert!(!users.is_empty(), "some sign-in succeeds");
    users.dedup();
    assert_eq!(users.len(), 1, "one user for one identity: {users:?}");
    for t in &tokens {
        assert_eq!(control.session_principal(t).await.expect("session"), Principal::user(users[0].clone()));
    }
    // The email is kept normalized; the same identity later is the same user.
    let again = control.sign_in(&ann, Duration::from_secs(60)).await.expect("sign in");
    assert_eq!(again.user.id, users[0]);
    assert_eq!(again.user.email, "ann@example.com");
}

#[tokio::test]
async fn a_first_sign_in_links_to_the_user_of_that_email_and_emails_stay_unique() {
    let control = control().await;
    let existing = user(&control, "bob@example.com").await;
    let signed = control.sign_in(&identity("bob-sub", "bob@example.com"), Duration::from_secs(60)).await.expect("sign in");
    assert_eq!(Principal::user(signed.user.id.clone()), existing, "linked to the user who already had the address");

    // Another identity claiming an address another user holds is refused.
    let other = control.sign_in(&identity("someone-else", "bob@example.com"), Duration::from_secs(60)).await;
    assert!(matches!(other, Err(ControlError::Conflict(_))), "{other:?}");

    // The provider changes Bob's address: it follows.
    let moved = control.sign_in(&identity("bob-sub", "robert@example.com"), Duration::from_secs(60)).await.expect("sign in");
    assert_eq!(moved.user.id, signed.user.id);
    assert_eq!(moved.user.email, "robert@example.com");
}

#[tokio::test]
async fn a_session_stands_until_it_ends_or_expires() {
    let control = control().await;
    let s = control.sign_in(&identity("cat-sub", "cat@example.com"), Duration::from_secs(60)).await.expect("sign in");
    assert!(s.token.starts_with("cgs_") && s.token.len() == 4 + 64, "{}", s.token);
    assert_eq!(control.session_principal(&s.token).await.expect("session"), Principal::user(s.user.id.clone()));

    // Unknown, malformed and ended sessions are nobody.
    for bad in ["", "cgs_", "cgs_0000", "not-a-session"] {
        assert!(matches!(control.session_principal(bad).await, Err(ControlError::Unauthenticated)), "{bad:?}");
    }
    control.end_session(&s.token).await.expect("sign out");
    assert!(matches!(control.session_principal(&s.token).await, Err(ControlError::Unauthenticated)));
    control.end_session(&s.token).await.expect("signing out twice is fine");

    // An expired one too.
    let short = control.sign_in(&identity("cat-sub", "cat@example.com"), Duration::from_millis(50)).await.expect("sign in");
    assert!(control.session_principal(&short.token).await.is_ok());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(matches!(control.session_principal(&short.token).await, Err(ControlError::Unauthenticated)), "expired");

    // Nonsense is refused with a reason.
    for (bad, ttl) in [
        (SsoIdentity { issuer: String::new(), ..identity("x", "x@example.com") }, Duration::from_secs(60)),
        (identity("x", "not an email"), Duration::from_secs(60)),
        (identity("x", "x@example.com"), Duration::ZERO),
    ] {
        assert!(matches!(control.sign_in(&bad, ttl).await, Err(ControlError::Invalid(_))), "{bad:?} {ttl:?}");
    }
}
