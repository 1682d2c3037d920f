//! UDP transport against real loopback sockets.

mod common;

use common::*;
use std::time::Duration;
use tokio::net::UdpSocket;

async fn exchange(client: &UdpSocket, server: std::net::SocketAddr, request: &str) -> String {
    client.send_to(request.as_bytes(), server).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    let (n, from) = tokio::time::timeout(Duration::from_secs(2), client.recv_from(&mut buf))
        .await
        .expect("a response within 2 s")
        .unwrap();
    assert_eq!(from, server, "the response comes from the listening socket");
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

#[tokio::test]
async fn options_over_udp_gets_200_ok() {
    let (handle, mut events) = start(loopback_config()).await;
    let server = handle.local_addrs().udp[0];
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    let request = options("UDP", "udp1");
    let response = exchange(&client, server, &request).await;
    assert_eq!(status_line(&response), "SIP/2.0 200 OK");
    assert!(response.contains("branch=z9hG4bKudp1"), "{response}");

    let rx = next_received(&mut events).await;
    assert_eq!(rx.transport, sip::Transport::Udp);
    assert_eq!(rx.local, server);
    assert_eq!(rx.remote, client.local_addr().unwrap());
    assert_eq!(&rx.bytes[..], request.as_bytes());
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn invalid_request_over_udp_gets_400_naming_the_fault() {
    let (handle, _events) = start(loopback_config()).await;
    let server = handle.local_addrs().udp[0];
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    let request = options("UDP", "udp2").replace("Call-ID: cudp2@127.0.0.1\r\n", "");
    let response = exchange(&client, server, &request).await;
    assert_eq!(status_line(&response), "SIP/2.0 400 missing Call-ID header");
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn crlf_keepalive_datagrams_do_not_reach_the_endpoint() {
    let (handle, mut events) = start(loopback_config()).await;
    let server = handle.local_addrs().udp[0];
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    client.send_to(b"\r\n\r\n", server).await.unwrap();
    let response = exchange(&client, server, &options("UDP", "udp3")).await;
    assert_eq!(status_line(&response), "SIP/2.0 200 OK");
    let rx = next_received(&mut events).await;
    assert!(
        rx.bytes.starts_with(b"OPTIONS"),
        "the keep-alive came first: {rx:?}"
    );
    handle.shutdown().await.unwrap();
}
