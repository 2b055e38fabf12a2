use super::*;

/// Resolves every name to the addresses it was given: DNS "pointing a name" anywhere.
struct Pointing(Vec<SocketAddr>);

impl Resolve for Pointing {
    fn resolve(&self, _: Name) -> Resolving {
        let addrs = self.0.clone();
        Box::pin(async move {
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn only_allowed_addresses_are_kept() {
    let found = [addr("169.254.169.254:80"), addr("127.0.0.1:80")];
    assert_eq!(
        allowed_addrs(found.into_iter(), false).unwrap(),
        vec![addr("127.0.0.1:80")]
    );
    assert!(allowed_addrs([addr("10.1.2.3:80")].into_iter(), false).is_err());
    assert!(allowed_addrs([addr("10.1.2.3:80")].into_iter(), true).is_ok());
}

#[test]
fn literal_private_hosts_are_refused_before_connecting() {
    assert!(!url_allowed("https://169.254.169.254/latest", false));
    assert!(!url_allowed("https://[fd00:ec2::254]/", false));
    assert!(!url_allowed("https://[::ffff:10.0.0.1]/", false));
    assert!(url_allowed("https://[::ffff:10.0.0.1]/", true));
    assert!(url_allowed("http://127.0.0.1:9/bc", false));
    assert!(url_allowed("https://rp.example.com/bc", false));
    assert!(!url_allowed("not a url", false));
}

#[tokio::test]
async fn a_name_pointed_at_the_metadata_address_is_never_connected_to() {
    let metadata = Arc::new(Pointing(vec![addr("169.254.169.254:80")]));
    let client = client(metadata, false, Duration::from_secs(2)).unwrap();
    let err = client
        .post("http://metadata.example.test/logout")
        .send()
        .await
        .unwrap_err();
    assert_eq!(describe(&err), NOT_ALLOWED, "{err:?}");
}

#[tokio::test]
async fn a_name_with_an_allowed_address_is_called_on_that_one_only() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        let _ = s
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
            .await;
    });
    let both = Arc::new(Pointing(vec![
        addr(&format!("169.254.169.254:{port}")),
        addr(&format!("127.0.0.1:{port}")),
    ]));
    let client = client(both, false, Duration::from_secs(2)).unwrap();
    let response = client
        .post(format!("http://receiver.example.test:{port}/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
}

#[tokio::test]
async fn a_refused_connection_reads_as_connection_refused_without_detail() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = client(system_resolver(), false, Duration::from_secs(2)).unwrap();
    let err = client
        .post(format!("http://127.0.0.1:{port}/logout"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(describe(&err), "connection refused", "{err:?}");
}
