//! The driver loop: timers at the endpoint's deadline, closures on the
//! endpoint, shutdown, bind errors.

mod common;

use common::*;
use std::time::{Duration, Instant};

#[tokio::test]
async fn handle_timeout_runs_at_the_deadline_not_earlier() {
    let (handle, mut events) = start(loopback_config()).await;
    let asked_at = Instant::now();
    let deadline = handle
        .with_now(|ep, now| {
            let deadline = now + Duration::from_millis(100);
            ep.deadline = Some(deadline);
            deadline
        })
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(2), events.recv())
        .await
        .expect("the timer fired within 2 s")
        .unwrap();
    let Event::Timeout {
        now,
        deadline: seen,
    } = event
    else {
        panic!("expected a timeout, got {event:?}")
    };
    assert_eq!(seen, deadline);
    assert!(
        now >= deadline,
        "handle_timeout got now {now:?} before {deadline:?}"
    );
    assert!(asked_at.elapsed() >= Duration::from_millis(100));
    assert!(asked_at.elapsed() < Duration::from_secs(1), "fired late");
    // It was called once: the endpoint cleared its deadline.
    assert!(handle.with(|ep| ep.deadline.is_none()).await.unwrap());
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_later_deadline_set_while_sleeping_is_honoured() {
    let (handle, mut events) = start(loopback_config()).await;
    let asked_at = Instant::now();
    handle
        .with_now(|ep, now| ep.deadline = Some(now + Duration::from_secs(2)))
        .await
        .unwrap();
    // Pull it earlier while the driver sleeps on the first one.
    handle
        .with_now(|ep, now| ep.deadline = Some(now + Duration::from_millis(50)))
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(2), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(event, Event::Timeout { .. }));
    let took = asked_at.elapsed();
    assert!(
        took < Duration::from_millis(250),
        "the earlier deadline was missed: {took:?}"
    );
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_returns_the_endpoint_and_ends_everything() {
    let (handle, mut events) = start(loopback_config()).await;
    let tcp = handle.local_addrs().tcp[0];
    let mut client = connect(tcp).await;
    write(&mut client, options("TCP", "sd").as_bytes()).await;
    read_response(&mut client).await;

    let endpoint = handle.shutdown().await.unwrap();
    assert!(endpoint.out.is_empty());
    // Open connections are closed, the event channel ends, the handle is dead.
    closed_within(&mut client, Duration::from_secs(2)).await;
    while events.recv().await.is_some() {}
    assert!(matches!(
        handle.with(|_| ()).await,
        Err(net::Error::Stopped)
    ));
    assert!(handle.shutdown().await.is_err());
}

#[tokio::test]
async fn binding_a_taken_address_is_an_error_naming_it() {
    let (handle, _events) = start(loopback_config()).await;
    let taken = handle.local_addrs().tcp[0];
    let mut config = net::Config::default();
    config.tcp.push(taken);
    let err = net::Driver::bind(config, Responder::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, net::Error::Bind { addr, .. } if addr == taken),
        "{err}"
    );
    assert!(err.to_string().contains(&taken.to_string()), "{err}");
    handle.shutdown().await.unwrap();
}
