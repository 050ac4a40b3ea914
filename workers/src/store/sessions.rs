//! Web sign-in sessions: a browser that signed in with an API key holds a random session token
//! (in an `HttpOnly` cookie); the database keeps only its SHA-256, the key it stands for and a
//! CSRF token the pages echo on unsafe requests. A session dies with its expiry, with sign-out,
//! and with its key (a revoked key's sessions stop authenticating at once).

use rand::RngCore;
use sha2::{Digest, Sha256};

use super::keys::{KeyInfo, hex};
use super::{Store, now_secs, with_pool};
use crate::error::{Result, WorkersError};

/// A session as the auth middleware needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub key_id: String,
    pub tenant: String,
    pub role: String,
    pub csrf_token: String,
    pub expires_at: i64,
}

/// A new session: the `token` goes into the cookie and is never stored.
#[derive(Debug, Clone)]
pub struct CreatedWebSession {
    pub token: String,
    pub session: WebSession,
}

fn random_hex_32() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

impl Store {
    /// Opens a session for an authenticated key, valid for `ttl_secs`. Expired sessions of every
    /// tenant are removed on the way (sign-ins are rare enough to pay for the sweep).
    pub async fn create_web_session(&self, key: &KeyInfo, ttl_secs: i64) -> Result<CreatedWebSession> {
        if ttl_secs <= 0 {
            return Err(WorkersError::Invalid { field: "session ttl", reason: "must be positive".into() });
        }
        let token = random_hex_32();
        let csrf_token = random_hex_32();
        let now = now_secs();
        let expires_at = now.saturating_add(ttl_secs);
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1").bind(now).execute(pool).await?;
            sqlx::query(
                "INSERT INTO web_sessions (token_sha256, key_id, tenant, role, csrf_token, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(hash_token(&token))
            .bind(&key.id)
            .bind(&key.tenant)
            .bind(&key.role)
            .bind(&csrf_token)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await?;
        });
        Ok(CreatedWebSession {
            token,
            session: WebSession {
                key_id: key.id.clone(),
                tenant: key.tenant.clone(),
                role: key.role.clone(),
                csrf_token,
                expires_at,
            },
        })
    }

    /// The live session behind `token`: `None` when unknown, expired, or its key was revoked.
    pub async fn web_session(&self, token: &str) -> Result<Option<WebSession>> {
        if token.is_empty() {
            return Ok(None);
        }
        let row: Option<(String, String, String, String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT s.key_id, s.tenant, s.role, s.csrf_token, s.expires_at FROM web_sessions s \
                 JOIN api_keys k ON k.id = s.key_id \
                 WHERE s.token_sha256 = $1 AND s.expires_at > $2 AND k.revoked_at IS NULL",
            )
            .bind(hash_token(token))
            .bind(now_secs())
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(key_id, tenant, role, csrf_token, expires_at)| WebSession {
            key_id,
            tenant,
            role,
            csrf_token,
            expires_at,
        }))
    }

    /// Ends a session (sign-out); ending an unknown one is not an error.
    pub async fn delete_web_session(&self, token: &str) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM web_sessions WHERE token_sha256 = $1").bind(hash_token(token)).execute(pool).await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> Store {
        Store::connect("sqlite::memory:").await.expect("in-memory store")
    }

    #[tokio::test]
    async fn a_session_stands_for_its_key_until_signed_out() {
        let store = store().await;
        let key = store.create_key("acme", "qa", "dana").await.expect("key");
        let created = store.create_web_session(&key.info, 3600).await.expect("session");
        let found = store.web_session(&created.token).await.expect("lookup").expect("live session");
        assert_eq!(found, created.session);
        assert_eq!((found.tenant.as_str(), found.role.as_str()), ("acme", "qa"));
        assert_ne!(found.csrf_token, created.token, "the csrf token is not the session token");
        assert!(store.web_session("not-a-token").await.expect("lookup").is_none());
        store.delete_web_session(&created.token).await.expect("sign out");
        assert!(store.web_session(&created.token).await.expect("lookup").is_none());
    }

    #[tokio::test]
    async fn revoking_the_key_ends_its_sessions() {
        let store = store().await;
        let key = store.create_key("acme", "manager", "lee").await.expect("key");
        let created = store.create_web_session(&key.info, 3600).await.expect("session");
        store.revoke_key("acme", &key.info.id).await.expect("revoke");
        assert!(store.web_session(&created.token).await.expect("lookup").is_none());
    }

    #[tokio::test]
    async fn a_session_needs_a_positive_lifetime() {
        let store = store().await;
        let key = store.create_key("acme", "qa", "dana").await.expect("key");
        assert!(store.create_web_session(&key.info, 0).await.is_err());
    }
}
