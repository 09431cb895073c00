//! Loss notices and money: a lost bid's commitment comes back at once, and a bid is resolved
//! once, by its spend event or its loss notice, whichever the owner shard's event window sees
//! first. The window's judgement and the delivery calls are put together here as the owner
//! shard does (`shard::tracking_flow`), for a campaign that spends on impressions.

use super::*;
use crate::tracking::{EventKind, EventWindow, Lane, Seen, WindowSize};

/// Room for a bid a second over a token's life.
fn window() -> EventWindow {
    let hold_s = 3600 + 60;
    let size = WindowSize::for_rate(1, hold_s).expect("a valid window");
    EventWindow::new(size, hold_s, 1_000)
}

/// Commits one bid at the campaign's price (one event: `EVENT_MICROS`) and gives its
/// sequence; `None` when the ledger has no room for it.
fn bid(delivery: &mut Delivery, window: &mut EventWindow, campaign: &Campaign) -> Option<u64> {
    delivery
        .admit(0, campaign, 0, true, NOW)
        .ok()
        .and_then(|()| delivery.ledger.commit(0, EVENT_MICROS, NOW).ok())
        .map(|()| window.issue(NOW).expect("room in the window"))
}

/// The owner shard's handling of event `kind` of bid `sequence`: judged by the window (a loss
/// on the spend event's lane), then a first billing notice realises `spend_micros` and a first
/// loss releases the commitment. Gives the window's verdict on the event's own lane.
fn on_event(
    delivery: &mut Delivery,
    window: &mut EventWindow,
    kind: EventKind,
    sequence: u64,
    spend_micros: i64,
) -> Seen {
    let verdict = window.judge(kind, Lane::Billing, sequence);
    if verdict.own == Seen::First {
        match kind {
            EventKind::Billing => delivery.realize(0, NOW, EVENT_MICROS, spend_micros, NOW + 1),
            EventKind::Loss => {
                delivery.release_lost(0, NOW, EVENT_MICROS, NOW + 1);
            }
            _ => {}
        }
    }
    verdict.own
}

fn liability(delivery: &Delivery) -> i64 {
    delivery
        .ledger()
        .view(0)
        .expect("a campaign")
        .liability_micros
}

#[test]
fn a_released_commitment_frees_budget_room() {
    let campaign = campaign(total(EVENT_MICROS));
    let mut delivery = ALONE.delivery(std::slice::from_ref(&campaign));
    let mut window = window();
    let first = bid(&mut delivery, &mut window, &campaign).expect("room for one bid");
    assert_eq!(
        delivery.admit(0, &campaign, 0, true, NOW),
        Err(Refusal::Budget(budget::Refusal::Total)),
        "one outstanding bid fills the budget"
    );
    assert_eq!(
        on_event(&mut delivery, &mut window, EventKind::Loss, first, 0),
        Seen::First
    );
    assert_eq!(liability(&delivery), 0);
    assert_eq!(
        delivery.ledger().counters().released_on_loss_micros,
        EVENT_MICROS
    );
    // The room is back at once, not when the token expires.
    let second = bid(&mut delivery, &mut window, &campaign).expect("room again");
    // Replaying the first bid's loss changes nothing: the second bid's commitment stays.
    assert_eq!(
        on_event(&mut delivery, &mut window, EventKind::Loss, first, 0),
        Seen::Repeat
    );
    assert_eq!(liability(&delivery), EVENT_MICROS);
    assert!(second > first);
}

#[test]
fn a_loss_after_the_spend_event_changes_nothing() {
    let campaign = campaign(total(2 * EVENT_MICROS));
    let mut delivery = ALONE.delivery(std::slice::from_ref(&campaign));
    let mut window = window();
    let billed = bid(&mut delivery, &mut window, &campaign).expect("room");
    let outstanding = bid(&mut delivery, &mut window, &campaign).expect("room");
    assert_ne!(billed, outstanding);
    let spent = EVENT_MICROS - 500;
    assert_eq!(
        on_event(
            &mut delivery,
            &mut window,
            EventKind::Billing,
            billed,
            spent
        ),
        Seen::First
    );
    let after_spend = delivery.ledger().view(0);
    assert_eq!(liability(&delivery), spent + EVENT_MICROS);
    assert_eq!(
        on_event(&mut delivery, &mut window, EventKind::Loss, billed, 0),
        Seen::Repeat
    );
    assert_eq!(delivery.ledger().view(0), after_spend);
    assert_eq!(delivery.ledger().counters().released_on_loss_micros, 0);
    // Why the window must judge first: the ledger keeps one sum per campaign and minute, so
    // on its own it would take the late loss's amount from the other bid's commitment.
    assert!(delivery.release_lost(0, NOW, EVENT_MICROS, NOW + 2));
}

#[test]
fn a_spend_event_after_a_loss_is_not_charged() {
    let campaign = campaign(total(EVENT_MICROS));
    let mut delivery = ALONE.delivery(std::slice::from_ref(&campaign));
    let mut window = window();
    let lost = bid(&mut delivery, &mut window, &campaign).expect("room");
    assert_eq!(
        on_event(&mut delivery, &mut window, EventKind::Loss, lost, 0),
        Seen::First
    );
    for _ in 0..2 {
        assert_eq!(
            on_event(
                &mut delivery,
                &mut window,
                EventKind::Billing,
                lost,
                EVENT_MICROS
            ),
            Seen::Repeat
        );
    }
    let view = delivery.ledger().view(0).expect("a campaign");
    assert_eq!(view.liability_micros, 0);
    assert_eq!(view.own_spent_micros, 0);
    assert_eq!(delivery.ledger().counters().unreserved_spend, 0);
}

#[test]
fn a_loss_of_an_unlimited_campaign_releases_nothing() {
    let campaign = campaign(|_| {});
    let mut delivery = ALONE.delivery(std::slice::from_ref(&campaign));
    assert!(!delivery.release_lost(0, NOW, EVENT_MICROS, NOW + 1));
    assert_eq!(liability(&delivery), 0);
}
