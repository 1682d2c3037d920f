//! TCP transport against real loopback sockets: framing, connection reuse,
//! keep-alives, and the timeouts that stop a peer from pinning a connection.

mod common;

use common::*;
use net::Transmit;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

#[tokio::test]
async fn back_to_back_and_split_messages_on_one_connection() {
    let (handle, mut events) = start(loopback_config()).await;
    let server = handle.local_addrs().tcp[0];
    let mut client = connect(server).await;

    // Two messages in one write.
    let (a, b) = (options("TCP", "a"), options("TCP", "b"));
    write(&mut client, format!("{a}{b}").as_bytes()).await;
    let first = read_response(&mut client).await;
    let second = read_response(&mut client).await;
    assert_eq!(status_line(&first), "SIP/2.0 200 OK");
    assert!(first.contains("branch=z9hG4bKa"), "{first}");
    assert!(second.contains("branch=z9hG4bKb"), "{second}");

    // One message, with a body, split across writes (well within the read deadline).
    let c = options("TCP", "c").replace(
        "Content-Length: 0\r\n\r\n",
        "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
    );
    let (head, tail) = c.split_at(60);
    write(&mut client, head.as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    write(&mut client, tail.as_bytes()).await;
    let third = read_response(&mut client).await;
    assert!(third.contains("branch=z9hG4bKc"), "{third}");

    // The endpoint saw each message exactly as sent, from this connection.
    for sent in [&a, &b, &c] {
        let rx = next_received(&mut events).await;
        assert_eq!(rx.transport, sip::Transport::Tcp);
        assert_eq!(rx.remote, client.local_addr().unwrap());
        assert_eq!(rx.local, server);
        assert_eq!(&rx.bytes[..], sent.as_bytes());
    }
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn outbound_messages_reuse_one_connection_both_ways() {
    let (handle, mut events) = start(loopback_config()).await;
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();

    // The endpoint sends two requests to the peer.
    for branch in ["out1", "out2"] {
        let bytes = bytes(&options("TCP", branch));
        handle
            .with(move |ep| {
                ep.out.push_back(Transmit {
                    transport: sip::Transport::Tcp,
                    remote: peer_addr,
                    bytes,
                })
            })
            .await
            .unwrap();
    }
    let (mut conn, _) = tokio::time::timeout(Duration::from_secs(2), peer.accept())
        .await
        .unwrap()
        .unwrap();
    let mut got = Vec::new();
    let expected = options("TCP", "out1").len() + options("TCP", "out2").len();
    while got.len() < expected {
        let mut buf = [0u8; 1024];
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(got).unwrap();
    assert!(text.contains("z9hG4bKout1") && text.contains("z9hG4bKout2"));

    // The peer's request comes back on that connection, and so does our answer.
    write(&mut conn, options("TCP", "back").as_bytes()).await;
    let response = read_response(&mut conn).await;
    assert!(response.contains("z9hG4bKback"), "{response}");
    let rx = next_received(&mut events).await;
    assert_eq!(
        rx.remote, peer_addr,
        "the connection is keyed by the peer we dialled"
    );

    // Exactly one connection was opened.
    let second = tokio::time::timeout(Duration::from_millis(100), peer.accept()).await;
    assert!(second.is_err(), "a second connection was opened");
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn double_crlf_ping_gets_single_crlf_pong() {
    let (handle, _events) = start(loopback_config()).await;
    let mut client = connect(handle.local_addrs().tcp[0]).await;
    write(&mut client, b"\r\n\r\n").await;
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(Duration::from_secs(2), client.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"\r\n");
    // The connection still carries messages.
    write(&mut client, options("TCP", "afterping").as_bytes()).await;
    assert_eq!(
        status_line(&read_response(&mut client).await),
        "SIP/2.0 200 OK"
    );
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_lone_crlf_keepalive_is_not_a_slow_message() {
    let (handle, _events) = start(loopback_config()).await; // read deadline 200 ms
    let mut client = connect(handle.local_addrs().tcp[0]).await;
    write(&mut client, b"\r\n").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    write(&mut client, options("TCP", "lone").as_bytes()).await;
    assert!(read_response(&mut client).await.contains("z9hG4bKlone"));
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn slow_sender_is_cut_off_at_the_read_deadline_while_others_are_served() {
    let (handle, _events) = start(loopback_config()).await; // read deadline 200 ms
    let server = handle.local_addrs().tcp[0];

    let mut slow = connect(server).await;
    let request = options("TCP", "slow");
    let started = tokio::time::Instant::now();
    write(&mut slow, &request.as_bytes()[..request.len() / 2]).await;

    // Meanwhile another client is served, twice, on its own connection.
    let mut fast = connect(server).await;
    for branch in ["fast1", "fast2"] {
        write(&mut fast, options("TCP", branch).as_bytes()).await;
        let response = read_response(&mut fast).await;
        assert!(response.contains(branch), "{response}");
    }

    closed_within(&mut slow, Duration::from_secs(2)).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(190),
        "closed too early: {elapsed:?}"
    );

    // The fast client is still served after the slow one is gone.
    write(&mut fast, options("TCP", "fast3").as_bytes()).await;
    assert!(read_response(&mut fast).await.contains("fast3"));
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_trickle_of_bytes_does_not_extend_the_read_deadline() {
    let (handle, _events) = start(loopback_config()).await; // read deadline 200 ms
    let mut slow = connect(handle.local_addrs().tcp[0]).await;
    let request = options("TCP", "trickle");
    let (mut reader, mut writer) = slow.split();
    let started = tokio::time::Instant::now();
    // 8 bytes every 50 ms: the whole message would take over 1.5 s.
    let trickle = async {
        for chunk in request.as_bytes().chunks(8) {
            if tokio::io::AsyncWriteExt::write_all(&mut writer, chunk)
                .await
                .is_err()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        std::future::pending::<()>().await;
    };
    let mut buf = [0u8; 64];
    tokio::select! {
        () = trickle => unreachable!(),
        read = reader.read(&mut buf) => assert!(matches!(read, Ok(0) | Err(_)), "{read:?}"),
        () = tokio::time::sleep(Duration::from_secs(2)) => panic!("still open after 2 s"),
    }
    let elapsed = started.elapsed();
    assert!(
        (Duration::from_millis(190)..Duration::from_millis(1200)).contains(&elapsed),
        "closed after {elapsed:?}, expected about 200 ms"
    );
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn idle_connections_close_after_the_idle_timeout() {
    let mut config = loopback_config();
    config.idle_timeout = Duration::from_millis(500);
    let (handle, _events) = start(config).await;
    let mut client = connect(handle.local_addrs().tcp[0]).await;

    // Traffic keeps it open past one idle period...
    for branch in ["idle1", "idle2", "idle3"] {
        tokio::time::sleep(Duration::from_millis(150)).await;
        write(&mut client, options("TCP", branch).as_bytes()).await;
        read_response(&mut client).await;
    }
    // ...silence closes it.
    let quiet = closed_within(&mut client, Duration::from_secs(2)).await;
    assert!(
        quiet >= Duration::from_millis(480),
        "closed too early: {quiet:?}"
    );
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn negative_content_length_gets_400_and_closes_the_connection() {
    let mut config = loopback_config();
    config.read_deadline = Duration::from_secs(3);
    let (handle, mut events) = start(config).await;
    let mut client = connect(handle.local_addrs().tcp[0]).await;
    let bad = options("TCP", "neg").replace(
        "Content-Length: 0\r\n\r\n",
        "Content-Length: -1\r\n\r\nhello",
    );
    write(&mut client, bad.as_bytes()).await;
    let response = read_response(&mut client).await;
    assert_eq!(
        status_line(&response),
        "SIP/2.0 400 Content-Length is negative"
    );
    assert!(response.contains("z9hG4bKneg"), "{response}");
    let took = closed_within(&mut client, Duration::from_secs(2)).await;
    assert!(
        took < Duration::from_millis(150),
        "closed by framing, not a timer: {took:?}"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(50), events.recv())
            .await
            .is_err(),
        "nothing reached the endpoint"
    );
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn garbage_closes_the_connection_without_an_answer() {
    let (handle, _events) = start(loopback_config()).await;
    let mut client = connect(handle.local_addrs().tcp[0]).await;
    write(&mut client, b"NOT SIP AT ALL\r\nContent-Length: -1\r\n\r\n").await;
    closed_within(&mut client, Duration::from_secs(2)).await;
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn oversized_body_closes_the_connection() {
    let mut config = loopback_config();
    config.limits.max_body = 16;
    let (handle, _events) = start(config).await;
    let mut client = connect(handle.local_addrs().tcp[0]).await;
    let big = options("TCP", "big").replace("Content-Length: 0", "Content-Length: 17");
    write(&mut client, big.as_bytes()).await;
    let response = read_response(&mut client).await;
    assert!(
        status_line(&response).starts_with("SIP/2.0 413 "),
        "{response}"
    );
    closed_within(&mut client, Duration::from_secs(2)).await;
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn connections_over_the_limit_are_closed_at_once() {
    let mut config = loopback_config();
    config.max_connections = 1;
    let (handle, _events) = start(config).await;
    let server = handle.local_addrs().tcp[0];

    let mut first = connect(server).await;
    write(&mut first, options("TCP", "lim1").as_bytes()).await;
    read_response(&mut first).await;

    let mut second = connect(server).await;
    closed_within(&mut second, Duration::from_secs(1)).await;

    // Closing the first frees its slot.
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = connect(server).await;
    write(&mut third, options("TCP", "lim3").as_bytes()).await;
    assert!(read_response(&mut third).await.contains("lim3"));
    handle.shutdown().await.unwrap();
}
