//! One stream's entities: a slab addressed by slot, found by key without hashing when it can.
//!
//! A record is resolved to its entity's slot once, when it is staged; applying then reads
//! entity state by index. Small integer keys (most entity ids) are answered from a plain
//! array, other keys from a hash map. Evicted slots are reused. The checkpoint form (a key
//! → entity map, the bytes from before the slab) is in `snapshot`.

use crate::state::{Entity, Layout};
use rustc_hash::FxHashMap;

/// One stream's entities: a slab addressed by slot, with a map from entity key to slot.
///
/// Records are resolved to a slot when they are staged (one lookup in a map of 4-byte
/// values, small enough to stay in cache), so applying a chunk reads entity state by index
/// with no hashing, and a record carries a 4-byte slot instead of a 16-byte key. Evicted
/// slots are reused. Checkpoints hold the same key → entity map as before the slab.
#[derive(Debug, Clone, Default)]
pub(super) struct StreamState {
    pub(super) slot: FxHashMap<u128, u32>,
    /// Slots of small integer keys, by key (`NONE`: no entity): most entity ids are dense
    /// integers, and an array read is cheaper than a hash probe. A cache of `slot`: every
    /// key of `slot` below `direct.len()` is here too. It grows (to a power of two) only
    /// for keys below 8 × the entity count (at least 65,536), so it costs at most 64 bytes
    /// per entity.
    pub(super) direct: Vec<u32>,
    pub(super) ents: Vec<Entity>,
    pub(super) free: Vec<u32>,
}

impl StreamState {
    pub(super) fn len(&self) -> usize {
        self.slot.len()
    }

    #[inline]
    pub(super) fn find(&self, key: u128) -> Option<u32> {
        if key < self.direct.len() as u128 {
            let i = self.direct[key as usize];
            (i != NONE).then_some(i)
        } else {
            self.slot.get(&key).copied()
        }
    }

    /// The slot of `key`, made for a fresh entity if it has none.
    #[inline]
    pub(super) fn slot_of(&mut self, key: u128, l: &Layout) -> u32 {
        match self.find(key) {
            Some(i) => i,
            None => self.add(key, l),
        }
    }

    #[cold]
    pub(super) fn add(&mut self, key: u128, l: &Layout) -> u32 {
        let i = match self.free.pop() {
            Some(i) => {
                self.ents[i as usize] = Entity::new(l);
                i
            }
            None => {
                self.ents.push(Entity::new(l));
                (self.ents.len() - 1) as u32
            }
        };
        self.slot.insert(key, i);
        let reach = (8 * self.slot.len()).max(1 << 16) as u128;
        if key >= self.direct.len() as u128 && key < reach {
            // Grow the direct table to cover `key`, and bring in the keys it now covers.
            let n = (key as usize + 1).next_power_of_two();
            self.direct.resize(n, NONE);
            for (&k, &j) in &self.slot {
                if k < n as u128 {
                    self.direct[k as usize] = j;
                }
            }
        } else if key < self.direct.len() as u128 {
            self.direct[key as usize] = i;
        }
        i
    }

    pub(super) fn get(&self, key: &u128) -> Option<&Entity> {
        self.find(*key).map(|i| &self.ents[i as usize])
    }

    pub(super) fn get_mut(&mut self, key: &u128) -> Option<&mut Entity> {
        self.find(*key).map(|i| &mut self.ents[i as usize])
    }

    pub(super) fn entry(&mut self, key: u128, l: &Layout) -> &mut Entity {
        let i = self.slot_of(key, l);
        &mut self.ents[i as usize]
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Entity> {
        self.slot.values().map(|&i| &self.ents[i as usize])
    }

    /// Removes the entities `drop` says to (given key and entity), freeing their slots.
    pub(super) fn evict(&mut self, mut drop: impl FnMut(u128, &Entity) -> bool) -> usize {
        let mut gone = 0;
        let (ents, free, direct) = (&mut self.ents, &mut self.free, &mut self.direct);
        self.slot.retain(|&k, &mut i| {
            if drop(k, &ents[i as usize]) {
                ents[i as usize] = Entity::default();
                free.push(i);
                if k < direct.len() as u128 {
                    direct[k as usize] = NONE;
                }
                gone += 1;
                false
            } else {
                true
            }
        });
        gone
    }
}

pub(super) const NONE: u32 = u32::MAX;
