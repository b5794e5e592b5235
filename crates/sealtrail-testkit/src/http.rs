//! JSON requests with a bearer key, for tests that talk to a server.

/// GET `url` with the bearer key; the JSON answer.
pub async fn get_json(http: &reqwest::Client, url: &str, key: &str) -> serde_json::Value {
    json_of(http.get(url).bearer_auth(key)).await
}

/// POST `body` as JSON to `url` with the bearer key; the JSON answer.
pub async fn post_json(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    body: &serde_json::Value,
) -> serde_json::Value {
    json_of(http.post(url).bearer_auth(key).json(body)).await
}

async fn json_of(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}
