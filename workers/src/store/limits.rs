//! Limits shared by every process on one database, so two API nodes enforce one limit between
//! them instead of one each: token buckets (per-key request rates, per-tenant upload quotas) and
//! leased capacity slots (live streams). The same SQL on SQLite and PostgreSQL; one statement per
//! admitted request on the bucket path.
//!
//! A bucket is stored as its GCRA "theoretical arrival time" (`tat_ms`): taking `amount` of a
//! bucket of `capacity` per `period` moves it `amount × period / capacity` ms later, and is
//! allowed while it stays within one period of now. That is a token bucket holding `capacity`,
//! refilled continuously at `capacity` per `period`, without a refill timestamp or a window edge
//! (a fixed window would let twice the limit through around each edge).

use crate::error::Result;

use super::{BeginWrite, Store, with_pool};

/// The answer of [`Store::take_from_bucket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Taken. `cost_ms` is what [`Store::give_back_to_bucket`] returns if the work is not done.
    Admitted { cost_ms: i64 },
    /// Not enough left; nothing was taken. Enough will have refilled in `retry_after_secs`
    /// (`None` when `amount` exceeds the whole capacity and can never fit).
    Refused { retry_after_secs: Option<u64> },
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Milliseconds the bucket moves for `amount` (rounded up, at least 1).
fn cost_ms(amount: i64, capacity: i64, period_ms: i64) -> i64 {
    let numerator = i128::from(amount.max(0)) * i128::from(period_ms.max(1));
    let denominator = i128::from(capacity.max(1));
    let cost = (numerator + denominator - 1) / denominator;
    i64::try_from(cost).unwrap_or(i64::MAX).max(1)
}

impl Store {
    /// Takes `amount` from `scope`'s bucket of `capacity` refilled at `capacity` per `period_ms`;
    /// one conditional upsert, atomic across processes (a row lock on PostgreSQL, the write lock
    /// on SQLite).
    pub async fn take_from_bucket(&self, scope: &str, amount: i64, capacity: i64, period_ms: i64) -> Result<Admission> {
        if amount > capacity {
            return Ok(Admission::Refused { retry_after_secs: None });
        }
        let now = now_ms();
        let cost = cost_ms(amount, capacity, period_ms);
        let taken: Option<i64> = with_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO limit_buckets (scope, tat_ms) VALUES ($1, $2 + $3) \
                 ON CONFLICT (scope) DO UPDATE SET \
                 tat_ms = (CASE WHEN limit_buckets.tat_ms > $2 THEN limit_buckets.tat_ms ELSE $2 END) + $3 \
                 WHERE (CASE WHEN limit_buckets.tat_ms > $2 THEN limit_buckets.tat_ms ELSE $2 END) + $3 <= $2 + $4 \
                 RETURNING tat_ms",
            )
            .bind(scope)
            .bind(now)
            .bind(cost)
            .bind(period_ms)
            .fetch_optional(pool)
            .await?
        });
        if taken.is_some() {
            return Ok(Admission::Admitted { cost_ms: cost });
        }
        // Refused (rare): when will there be room?
        let tat: i64 = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT tat_ms FROM limit_buckets WHERE scope = $1")
                .bind(scope)
                .fetch_optional(pool)
                .await?
                .unwrap_or(now)
        });
        let wait_ms = tat.max(now) + cost - now - period_ms;
        let retry_after_secs = u64::try_from(wait_ms.max(0)).unwrap_or(0).div_ceil(1000).max(1);
        Ok(Admission::Refused { retry_after_secs: Some(retry_after_secs) })
    }

    /// Returns what [`take_from_bucket`](Self::take_from_bucket) took (the work it paid for was
    /// refused later, e.g. the queue was full).
    pub async fn give_back_to_bucket(&self, scope: &str, cost_ms: i64) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE limit_buckets SET tat_ms = tat_ms - $2 WHERE scope = $1")
                .bind(scope)
                .bind(cost_ms)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Takes one of `limit` slots of `scope` for `holder` (e.g. a live stream's id), leased for
    /// `lease_secs` (renew with [`renew_slot`](Self::renew_slot) well before it runs out). `false`
    /// when all are taken. Slots of a process that died expire with their lease. Holding the slot
    /// already renews it. One transaction, serialised per scope across processes.
    pub async fn acquire_slot(&self, scope: &str, holder: &str, limit: i64, lease_secs: i64) -> Result<bool> {
        let now = super::now_secs();
        let acquired = with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            // The scope's guard row: the upsert locks it until commit on PostgreSQL, so two
            // processes cannot both see the last free slot (SQLite's write lock does the same).
            sqlx::query(
                "INSERT INTO limit_buckets (scope, tat_ms) VALUES ($1, 0) \
                 ON CONFLICT (scope) DO UPDATE SET tat_ms = limit_buckets.tat_ms",
            )
            .bind(format!("slots:{scope}"))
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM capacity_slots WHERE scope = $1 AND expires_at < $2")
                .bind(scope)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let (held, others): (i64, i64) = sqlx::query_as(
                "SELECT COALESCE(SUM(CASE WHEN holder = $2 THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN holder = $2 THEN 0 ELSE 1 END), 0) FROM capacity_slots WHERE scope = $1",
            )
            .bind(scope)
            .bind(holder)
            .fetch_one(&mut *tx)
            .await?;
            let acquired = held > 0 || others < limit;
            if acquired {
                sqlx::query(
                    "INSERT INTO capacity_slots (scope, holder, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (scope, holder) DO UPDATE SET expires_at = excluded.expires_at",
                )
                .bind(scope)
                .bind(holder)
                .bind(now + lease_secs.max(1))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            acquired
        });
        Ok(acquired)
    }

    /// Extends `holder`'s slot; `false` if it expired and was taken or released meanwhile.
    pub async fn renew_slot(&self, scope: &str, holder: &str, lease_secs: i64) -> Result<bool> {
        let now = super::now_secs();
        let affected = with_pool!(self, pool => {
            sqlx::query("UPDATE capacity_slots SET expires_at = $3 WHERE scope = $1 AND holder = $2 AND expires_at >= $4")
                .bind(scope)
                .bind(holder)
                .bind(now + lease_secs.max(1))
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(affected == 1)
    }

    /// Frees `holder`'s slot (no error if it has none).
    pub async fn release_slot(&self, scope: &str, holder: &str) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM capacity_slots WHERE scope = $1 AND holder = $2")
                .bind(scope)
                .bind(holder)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Slots of `scope` held now (unexpired).
    pub async fn slots_in_use(&self, scope: &str) -> Result<i64> {
        let held: i64 = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM capacity_slots WHERE scope = $1 AND expires_at >= $2")
                .bind(scope)
                .bind(super::now_secs())
                .fetch_one(pool)
                .await?
        });
        Ok(held)
    }
}

#[cfg(test)]
mod tests {
    use super::cost_ms;

    #[test]
    fn a_full_capacity_costs_one_period() {
        assert_eq!(cost_ms(600, 600, 60_000), 60_000);
        assert_eq!(cost_ms(1, 600, 60_000), 100);
        // Rounded up, never free.
        assert_eq!(cost_ms(1, 7, 1_000), 143);
        assert_eq!(cost_ms(0, 7, 1_000), 1);
    }
}
