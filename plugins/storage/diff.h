// The pure half of the storage plugin: desired section + current section -> Actions. No I/O.
//
// Safety (Ignition's rules): what matches is kept; what exists and does not match is an error that says what
// differs, unless the document allows destroying it ("wipe": true on the device or the filesystem) -- then
// the action is marked destructive, and the engine refuses it without --allow-destructive. Data is never
// destroyed by an action that is not marked.
//
//   partition tables  a missing table is created and missing partitions are added (non-destructive); a
//                     partition's label and type are changed in place (non-destructive); a different table
//                     type, a different size or start, or a signature on the bare device needs "wipe"
//   filesystems       created where blkid finds no signature; kept when the type (and uuid, when given)
//                     match; relabelled in place; any other signature needs "wipe"
//   subvolumes        created when missing; "state": "absent" deletes (always destructive)
//   mounts            mounted now and recorded in fstab, or unmounted / removed from fstab
//
// Execution order (Action::order), lowest first:
//   10 partition tables -> 20 mkfs -> 21 relabel -> 30 create subvolumes -> 40 mounts (parents first, by
//   item order) -> 50..69 unmounts (deepest first) -> 70..89 delete subvolumes (deepest first)
//
// Each Action carries a typed operation (ops.h) with what apply needs, including what the plan expected to
// find, so apply can refuse when the disk changed between plan and apply.
//
// With "wipe", a partition of the wrong size or start is recreated where it is when it fits before the next
// partition that stays; when a neighbour is in the way, the whole table is written anew from the document.
#pragma once

#include <vector>

#include "action.h"
#include "json.h"

namespace opdbus::storage {

enum Order : int {
  kOrderPartition = 10,
  kOrderMkfs = 20,
  kOrderRelabel = 21,
  kOrderSubvolumeCreate = 30,
  kOrderMount = 40,
  kOrderUnmount = 50,          // + (19 - depth): deeper mount points first
  kOrderSubvolumeDelete = 70,  // + (19 - depth): nested subvolumes first
};

// Throws Error(InvalidArgument) for a section check() refuses, and for a mismatch the document does not allow
// destroying, naming what differs:
// "/dev/vdb: partition 2: size did not match: want 20G, got 18G; set \"wipe\": true and pass
// --allow-destructive to repartition".
std::vector<Action> diff_section(const JsonValue& desired, const JsonValue& current);

}  // namespace opdbus::storage
