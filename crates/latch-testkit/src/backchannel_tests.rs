use super::*;

fn client() -> reqwest::Client {
    reqwest::Client::builder().build().expect("reqwest client")
}

async fn post_token(receiver: &BackchannelReceiver, token: &str) -> u16 {
    client()
        .post(receiver.url("/bc"))
        .form(&[("logout_token", token)])
        .send()
        .await
        .expect("POST to receiver")
        .status()
        .as_u16()
}

#[tokio::test]
async fn receiver_records_the_decoded_logout_token_and_path() {
    let receiver = BackchannelReceiver::start().await;
    let token = "eyJhbGciOiJSUzI1NiJ9.eyJzaWQiOiJhK2IvYz0ifQ.sig-_+/=";
    assert_eq!(post_token(&receiver, token).await, 200);

    let got = receiver.wait_for(1, Duration::from_secs(2)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/bc");
    assert_eq!(got[0].logout_token.as_deref(), Some(token));
    assert_eq!(
        got[0].header("Content-Type"),
        Some("application/x-www-form-urlencoded")
    );
}

#[tokio::test]
async fn receiver_fails_the_first_n_requests_then_succeeds() {
    let receiver = BackchannelReceiver::start().await;
    receiver.fail_first(2);
    assert_eq!(post_token(&receiver, "t1").await, 500);
    assert_eq!(post_token(&receiver, "t2").await, 500);
    assert_eq!(post_token(&receiver, "t3").await, 200);

    let statuses: Vec<u16> = receiver.attempts().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 200]);
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].logout_token.as_deref(), Some("t3"));
}

#[tokio::test]
async fn receiver_refuses_connections_while_stopped_and_comes_back_on_the_same_port() {
    let mut receiver = BackchannelReceiver::start().await;
    let url = receiver.url("/bc");
    receiver.stop().await;
    let refused = client()
        .post(&url)
        .form(&[("logout_token", "x")])
        .send()
        .await;
    assert!(
        refused.is_err(),
        "expected connection refused, got {refused:?}"
    );

    receiver.start_again().await;
    assert_eq!(receiver.url("/bc"), url);
    assert_eq!(post_token(&receiver, "after").await, 200);
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn receiver_decodes_a_chunked_body() {
    let receiver = BackchannelReceiver::start().await;
    let mut stream = TcpStream::connect(("127.0.0.1", receiver.port()))
        .await
        .expect("connect");
    let request = "POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                   6\r\nlogout\r\n8;ext=1\r\n_token=a\r\n3\r\n%2B\r\n0\r\n\r\n";
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");

    let got = receiver.received();
    assert_eq!(got[0].path, "/chunked");
    assert_eq!(got[0].logout_token.as_deref(), Some("a+"));
}

#[tokio::test]
async fn receiver_answers_400_to_garbage() {
    let receiver = BackchannelReceiver::start().await;
    let mut stream = TcpStream::connect(("127.0.0.1", receiver.port()))
        .await
        .expect("connect");
    stream
        .write_all(b"POST /x HTTP/1.1\r\nContent-Length: nope\r\n\r\n")
        .await
        .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
    assert!(receiver.attempts().is_empty());
}

#[tokio::test]
#[should_panic(expected = "expected 1 back-channel deliveries")]
async fn wait_for_panics_when_nothing_arrives() {
    let receiver = BackchannelReceiver::start().await;
    receiver.wait_for(1, Duration::from_millis(50)).await;
}

#[test]
fn decode_chunked_waits_for_the_last_chunk() {
    assert_eq!(decode_chunked(b"3\r\nabc\r\n").expect("valid"), None);
    assert_eq!(decode_chunked(b"3\r\nab").expect("valid"), None);
    assert_eq!(
        decode_chunked(b"3\r\nabc\r\n0\r\n\r\n").expect("valid"),
        Some(b"abc".to_vec())
    );
    assert!(decode_chunked(b"zz\r\n").is_err());
    assert!(decode_chunked(b"2\r\nabc\r\n0\r\n\r\n").is_err());
}
