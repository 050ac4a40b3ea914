//! API keys: random secrets shown once; only their SHA-256 is stored, so a leaked database does
//! not leak usable keys.

use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{Store, new_id, now_secs, with_pool};
use crate::error::{Result, WorkersError};

/// Prefix of every key, so secret scanners and humans recognise one.
pub const API_KEY_PREFIX: &str = "cs_";

/// Who a request is, once its key is authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: String,
    pub tenant: String,
    pub role: String,
}

/// A new key: `plaintext` is returned this once and never stored.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub info: KeyInfo,
    pub plaintext: String,
}

/// A key as listed to its tenant's admins (no secret, no hash).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiKeyRecord {
    pub id: String,
    pub tenant: String,
    pub role: String,
    pub label: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

fn hash_key(plaintext: &str) -> String {
    hex(&Sha256::digest(plaintext.as_bytes()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Creates a key for `tenant` with `role`; returns the plaintext (`cs_` + 64 hex digits) once.
    pub async fn create_key(&self, tenant: &str, role: &str, label: &str) -> Result<CreatedKey> {
        if tenant.is_empty() {
            return Err(WorkersError::Invalid { field: "tenant", reason: "must not be empty".into() });
        }
        if role.is_empty() {
            return Err(WorkersError::Invalid { field: "role", reason: "must not be empty".into() });
        }
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let plaintext = format!("{API_KEY_PREFIX}{}", hex(&secret));
        let id = new_id();
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO api_keys (id, tenant, role, key_sha256, label, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&id)
            .bind(tenant)
            .bind(role)
            .bind(hash_key(&plaintext))
            .bind(label)
            .bind(now_secs())
            .execute(pool)
            .await?;
        });
        Ok(CreatedKey { info: KeyInfo { id, tenant: tenant.to_string(), role: role.to_string() }, plaintext })
    }

    /// The key's identity, or `None` for an unknown, malformed or revoked key.
    pub async fn authenticate(&self, plaintext: &str) -> Result<Option<KeyInfo>> {
        if !plaintext.starts_with(API_KEY_PREFIX) {
            return Ok(None);
        }
        let row: Option<(String, String, String)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id, tenant, role FROM api_keys WHERE key_sha256 = $1 AND revoked_at IS NULL")
                .bind(hash_key(plaintext))
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(id, tenant, role)| KeyInfo { id, tenant, role }))
    }

    /// Revokes a key of `tenant`; `NotFound` if the tenant has no such active key.
    pub async fn revoke_key(&self, tenant: &str, key_id: &str) -> Result<()> {
        let affected = with_pool!(self, pool => {
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE tenant = $2 AND id = $3 AND revoked_at IS NULL")
                .bind(now_secs())
                .bind(tenant)
                .bind(key_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if affected == 0 {
            return Err(WorkersError::NotFound { what: "api key" });
        }
        Ok(())
    }

    /// The tenant's keys, newest first, revoked ones included.
    pub async fn list_keys(&self, tenant: &str) -> Result<Vec<ApiKeyRecord>> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, tenant, role, label, created_at, revoked_at FROM api_keys WHERE tenant = $1 ORDER BY id DESC",
            )
            .bind(tenant)
            .fetch_all(pool)
            .await?
        }))
    }
}
