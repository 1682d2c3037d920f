//! Call scenarios end to end: phones and trunks through the engine.

mod common;

use common::*;
use model::{CallStatus::*, HangupBy, HangupReason};
use std::time::Duration;
use testkit::NetConfig;

#[test]
fn trunk_to_static_contact_answered_then_caller_hangs_up() {
    let mut w = World::new(1, NetConfig::default());
    let invite = w.with("trunk", |p, now| p.invite(now, "300"));
    assert!(
        w.run_until(|w| w.phone_ref("trunk").final_status(invite) == Some(200)),
        "{}",
        w.ladder
    );
    w.run_for(Duration::from_secs(5));
    w.with("trunk", |p, now| p.bye(now));
    assert!(w.run_until(|w| w.all_ended()), "{}", w.ladder);
    let m = w.master();
    let f = &w.forks()[0];
    assert_eq!(w.status_path(m.id), [Dialing, Ringing, Progressing, Hangup]);
    assert_eq!(
        w.status_path(f.id),
        [Dialing, Ringing, Progressing, Terminating, Hangup]
    );
    assert_eq!(
        (m.hangup_by, m.hangup_reason, m.sip_code),
        (
            Some(HangupBy::Remote),
            Some(HangupReason::Normal),
            Some(200)
        )
    );
    assert_eq!(
        (f.hangup_by, f.hangup_reason, f.sip_code),
        (Some(HangupBy::Local), Some(HangupReason::Normal), Some(200))
    );
    println!("{}", w.ladder);
    w.assert_clean();
}
