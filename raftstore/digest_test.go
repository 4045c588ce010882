package raftstore

import (
	"testing"
	"time"
)

func TestDigest(t *testing.T) {
	a, b := seeded(t), seeded(t)
	ia, da, err := a.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ib, db, err := b.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if ia != ib || da != db {
		t.Fatalf("same commands, different digests: %d %s and %d %s", ia, da, ib, db)
	}
	// Applied a second later on one member: the replicated state, and so
	// the digest, must not depend on when a member applied it.
	ack := &Ack{Group: "g", By: "test", At: time.Unix(1700000000, 0)}
	mustApply(t, a, ia+1, ack)
	mustApply(t, b, ib+1, ack)
	ia, da, _ = a.Digest()
	ib, db, _ = b.Digest()
	if ia != ib || da != db {
		t.Fatalf("same commands, different digests: %d %s and %d %s", ia, da, ib, db)
	}
	mustApply(t, b, ib+1, &Ack{Group: "g", By: "other", At: time.Unix(1700000001, 0)})
	ib2, db2, _ := b.Digest()
	if ib2 != ib+1 || db2 == db {
		t.Fatalf("after one more command: index %d digest %s, want index %d and a new digest", ib2, db2, ib+1)
	}
}
