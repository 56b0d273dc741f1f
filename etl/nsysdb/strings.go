package nsysdb

import (
	"context"
	"database/sql/driver"
	"fmt"
)

// stringIDs is the StringIds table held in memory: nsys numbers its strings
// densely from 0, so a slice indexed by id is the common case; a map takes
// sparse ids (as another tool might write) without a huge allocation.
type stringIDs struct {
	dense  []string
	set    []bool // set[id]: dense[id] is present (a string may be empty)
	sparse map[int64]string
}

func (s *stringIDs) get(id int64) (string, bool) {
	if s.sparse != nil {
		v, ok := s.sparse[id]
		return v, ok
	}
	if id < 0 || id >= int64(len(s.dense)) || !s.set[id] {
		return "", false
	}
	return s.dense[id], true
}

// stringIDs loads StringIds once per export.
func (d *DB) stringIDs(ctx context.Context, needer string) (*stringIDs, error) {
	if d.strs != nil {
		return d.strs, nil
	}
	l, err := d.layout(ctx, "StringIds")
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, d.malformed("table %s refers to StringIds, which the export lacks", needer)
	}
	idCol, ok1 := l.has("id")
	valCol, ok2 := l.has("value")
	if !ok1 || !ok2 {
		return nil, d.malformed("table %s lacks column id or value", l.table)
	}
	type pair struct {
		id int64
		s  string
	}
	var pairs []pair
	var maxID int64 = -1
	row := 0
	q := "SELECT " + quoteIdent(idCol) + ", " + quoteIdent(valCol) + " FROM " + quoteIdent(l.table)
	err = d.query(ctx, q, func(v []driver.Value) error {
		row++
		id, ok, err := toInt(v[0])
		if err != nil {
			return dataError{fmt.Errorf("row %d: column %s: %w", row, idCol, err)}
		}
		s, sok, err := toText(v[1])
		if err != nil {
			return dataError{fmt.Errorf("row %d: column %s: %w", row, valCol, err)}
		}
		if !ok || !sok {
			return nil // a NULL id or string resolves nothing
		}
		pairs = append(pairs, pair{id, s})
		maxID = max(maxID, id)
		return nil
	})
	if err != nil {
		return nil, d.wrapReadErr(ctx, l.table, err)
	}
	s := &stringIDs{}
	if maxID < int64(2*len(pairs)+1024) {
		s.dense = make([]string, maxID+1)
		s.set = make([]bool, maxID+1)
		for _, p := range pairs {
			if p.id >= 0 && !s.set[p.id] {
				s.dense[p.id], s.set[p.id] = p.s, true
			}
		}
	} else {
		s.sparse = make(map[int64]string, len(pairs))
		for _, p := range pairs {
			if _, dup := s.sparse[p.id]; !dup {
				s.sparse[p.id] = p.s
			}
		}
	}
	d.strs = s
	return s, nil
}

// processMask keeps the process bits of a serialized global thread id, as
// nsys's reports do when they match NVTX domains to events.
const processMask = 0x0000FFFFFF000000

type domainKey struct{ domain, process int64 }

type domainName struct {
	name       string
	start, row int64
}

// loadDomains reads the NVTX domain-create events (type 75): the name of
// domain d in a process is that of its earliest create event in that
// process (then the lowest row id), COALESCE(StringIds[textId], text).
func (d *DB) loadDomains(ctx context.Context, l *layout) error {
	if d.domains != nil {
		return nil
	}
	d.domains = map[domainKey]domainName{}
	typ, ok1 := l.has("eventType")
	dom, ok2 := l.has("domainId")
	tid, ok3 := l.has("globalTid")
	st, ok4 := l.has("start")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil
	}
	textID, hasTextID := l.has("textId")
	text, hasText := l.has("text")
	if !hasTextID && !hasText {
		return nil
	}
	var strs *stringIDs
	if !d.HasTable("StringIds") {
		hasTextID = false // names from text only
	}
	cols := "rowid, " + quoteIdent(st) + ", " + quoteIdent(dom) + ", " + quoteIdent(tid)
	if hasTextID {
		var err error
		if strs, err = d.stringIDs(ctx, l.table); err != nil {
			return err
		}
		cols += ", " + quoteIdent(textID)
	} else {
		cols += ", NULL"
	}
	if hasText {
		cols += ", " + quoteIdent(text)
	} else {
		cols += ", NULL"
	}
	q := "SELECT " + cols + " FROM " + quoteIdent(l.table) + " WHERE " + quoteIdent(typ) + " = 75"
	err := d.query(ctx, q, func(v []driver.Value) error {
		row, _, err := toInt(v[0])
		if err != nil {
			return dataError{fmt.Errorf("rowid: %w", err)}
		}
		start, okS, err := toInt(v[1])
		if err != nil {
			return dataError{fmt.Errorf("row %d: column %s: %w", row, st, err)}
		}
		id, okD, err := toInt(v[2])
		if err != nil {
			return dataError{fmt.Errorf("row %d: column %s: %w", row, dom, err)}
		}
		gtid, okT, err := toInt(v[3])
		if err != nil {
			return dataError{fmt.Errorf("row %d: column %s: %w", row, tid, err)}
		}
		if !okD || !okT || !okS {
			return nil
		}
		name, okN, err := nvtxText(strs, v[4], v[5])
		if err != nil {
			return dataError{fmt.Errorf("row %d: %w", row, err)}
		}
		if !okN {
			return nil
		}
		k := domainKey{id, gtid & processMask}
		if old, dup := d.domains[k]; dup && (old.start < start || old.start == start && old.row < row) {
			return nil
		}
		d.domains[k] = domainName{name: name, start: start, row: row}
		return nil
	})
	if err != nil {
		return d.wrapReadErr(ctx, l.table, err)
	}
	return nil
}

// nvtxText is COALESCE(StringIds[textId], text), as nsys's reports name
// NVTX events and domains.
func nvtxText(strs *stringIDs, textID, text driver.Value) (string, bool, error) {
	id, ok, err := toInt(textID)
	if err != nil {
		return "", false, fmt.Errorf("textId: %w", err)
	}
	if ok && strs != nil {
		if s, found := strs.get(id); found {
			return s, true, nil
		}
	}
	s, ok, err := toText(text)
	if err != nil {
		return "", false, fmt.Errorf("text: %w", err)
	}
	return s, ok, nil
}
