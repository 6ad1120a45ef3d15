//! Session operations that must not interleave with a chat turn of the agent: switching
//! branch, deleting a session, compacting. A turn appends under the session's current
//! leaf step by step, so these wait for the agent's running turn (if any) to end, as a
//! second chat would.

use agents::Address;

use crate::Harness;
use crate::compaction::{self, Compacted, Mode};
use crate::error::Error;

impl Harness {
    /// Runs `op` on the agent's database once no chat turn of the agent runs (it waits for
    /// one that does), so a turn never sees its session's leaf move or the session vanish.
    pub async fn between_turns<T, F>(&self, class: &str, name: &str, op: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut store::AgentDb) -> store::Result<T> + Send + 'static,
    {
        self.host().classes().get(class)?;
        let address = Address::new(class, name);
        let _guard = self.lock(&address).lock_owned().await;
        Ok(self
            .host()
            .with_db(class, name, move |db| op(db).map_err(agents::Error::Store))
            .await?)
    }

    /// Compacts the session now: everything before its latest user message is summarised
    /// by the class's model into the session's overlay (and ingested into attached memory).
    /// Waits for a running turn of the agent to end first.
    pub async fn compact(
        &self,
        class: &str,
        name: &str,
        session_id: &str,
    ) -> Result<Compacted, Error> {
        if !self.host().classes().get(class)?.think {
            return Err(Error::NotThink {
                class: class.to_owned(),
            });
        }
        let address = Address::new(class, name);
        let _guard = self.lock(&address).lock_owned().await;
        self.recover_locked(&address).await;
        // The session must exist before the model is asked for anything.
        let session = session_id.to_owned();
        self.host()
            .with_db(class, name, move |db| Ok(db.sessions().get(&session)?))
            .await?;
        let (config, model) = self.config(&address).await?;
        let memory = self.memory_for(class);
        let ctx = compaction::Context {
            host: self.host(),
            address: &address,
            model: &model,
            bindings: &memory.compaction,
            memory_profiles: &memory.profiles,
            session_id,
            budget: config.budget(),
        };
        compaction::compact(&ctx, Mode::Manual)
            .await?
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "session {session_id:?} has nothing to compact: its history is its latest \
                 question and what followed (or already a summary of the rest)"
                ))
            })
    }
}
