package plan

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	yamlparser "github.com/goccy/go-yaml/parser"
)

// Pos is a place in a plan file, 1-based.
type Pos struct {
	Line, Col int
}

// Error is one problem in a plan file, at a place.
type Error struct {
	File string
	Pos  Pos
	Msg  string
}

// Error formats the problem as "file:line:col: message".
func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Col, e.Msg)
}

// ErrorList is every problem found in a plan file, in file order.
type ErrorList []*Error

// Error joins the problems, one per line.
func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// kind is the shape of a YAML node.
type kind int

const (
	kScalar kind = iota
	kMap
	kSeq
	kNull
)

// node is a YAML node reduced to what plans use, with its position.
type node struct {
	kind kind
	pos  Pos
	// kMap: keys and values in file order.
	keys []*node
	vals []*node
	// kSeq
	items []*node
	// kScalar: int64, string, bool or float64.
	val any
}

func (n *node) describe() string {
	switch n.kind {
	case kMap:
		return "a mapping"
	case kSeq:
		return "a list"
	case kNull:
		return "null"
	}
	switch v := n.val.(type) {
	case int64:
		return fmt.Sprintf("integer %d", v)
	case string:
		return fmt.Sprintf("string %q", v)
	case bool:
		return fmt.Sprintf("boolean %v", v)
	case float64:
		return fmt.Sprintf("number %v", v)
	}
	return "a value"
}

// get returns the value of key in a mapping node, or nil.
func (n *node) get(key string) *node {
	for i, k := range n.keys {
		if k.val == key {
			return n.vals[i]
		}
	}
	return nil
}

// parseYAML parses one YAML document into a node tree. Anchors and aliases
// are resolved; merge keys and multiple documents are refused.
func parseYAML(file string, data []byte) (*node, error) {
	f, err := yamlparser.ParseBytes(data, 0)
	if err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) && ye.GetToken() != nil {
			p := ye.GetToken().Position
			return nil, ErrorList{{File: file, Pos: Pos{p.Line, p.Column}, Msg: "yaml: " + ye.GetMessage()}}
		}
		return nil, ErrorList{{File: file, Pos: Pos{1, 1}, Msg: "yaml: " + err.Error()}}
	}
	var docs []*ast.DocumentNode
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return nil, ErrorList{{File: file, Pos: Pos{1, 1}, Msg: "empty plan"}}
	}
	if len(docs) > 1 {
		return nil, ErrorList{{File: file, Pos: posOf(docs[1].Body), Msg: "a plan is one YAML document; found more"}}
	}
	c := &converter{file: file, anchors: map[string]*node{}}
	n := c.convert(docs[0].Body)
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	return n, nil
}

type converter struct {
	file    string
	anchors map[string]*node
	errs    ErrorList
}

func (c *converter) errorf(p Pos, format string, args ...any) {
	c.errs = append(c.errs, &Error{File: c.file, Pos: p, Msg: fmt.Sprintf(format, args...)})
}

func posOf(n ast.Node) Pos {
	if n == nil {
		return Pos{1, 1}
	}
	t := n.GetToken()
	if t == nil || t.Position == nil {
		return Pos{1, 1}
	}
	return Pos{t.Position.Line, t.Position.Column}
}

func (c *converter) convert(an ast.Node) *node {
	pos := posOf(an)
	switch v := an.(type) {
	case nil:
		return &node{kind: kNull, pos: pos}
	case *ast.NullNode:
		return &node{kind: kNull, pos: pos}
	case *ast.IntegerNode:
		switch i := v.Value.(type) {
		case int64:
			return &node{kind: kScalar, pos: pos, val: i}
		case uint64:
			if i > math.MaxInt64 {
				c.errorf(pos, "integer %d is too large", i)
				return &node{kind: kNull, pos: pos}
			}
			return &node{kind: kScalar, pos: pos, val: int64(i)}
		}
		c.errorf(pos, "unreadable integer %v", v.Value)
		return &node{kind: kNull, pos: pos}
	case *ast.FloatNode:
		return &node{kind: kScalar, pos: pos, val: v.Value}
	case *ast.InfinityNode:
		return &node{kind: kScalar, pos: pos, val: v.Value}
	case *ast.NanNode:
		return &node{kind: kScalar, pos: pos, val: math.NaN()}
	case *ast.BoolNode:
		return &node{kind: kScalar, pos: pos, val: v.Value}
	case *ast.StringNode:
		return &node{kind: kScalar, pos: pos, val: v.Value}
	case *ast.LiteralNode:
		if v.Value == nil {
			return &node{kind: kScalar, pos: pos, val: ""}
		}
		return &node{kind: kScalar, pos: pos, val: v.Value.Value}
	case *ast.TagNode:
		return c.convert(v.Value)
	case *ast.AnchorNode:
		n := c.convert(v.Value)
		if name, ok := v.Name.(ast.ScalarNode); ok {
			c.anchors[fmt.Sprint(name.GetValue())] = n
		}
		return n
	case *ast.AliasNode:
		name := ""
		if s, ok := v.Value.(ast.ScalarNode); ok {
			name = fmt.Sprint(s.GetValue())
		}
		n, ok := c.anchors[name]
		if !ok {
			c.errorf(pos, "alias *%s has no anchor before it", name)
			return &node{kind: kNull, pos: pos}
		}
		// Keep the alias's own position for errors about its use.
		cp := *n
		cp.pos = pos
		return &cp
	case *ast.MappingNode:
		return c.mapping(pos, v.Values)
	case *ast.MappingValueNode:
		return c.mapping(pos, []*ast.MappingValueNode{v})
	case *ast.SequenceNode:
		n := &node{kind: kSeq, pos: pos}
		for _, it := range v.Values {
			n.items = append(n.items, c.convert(it))
		}
		return n
	case *ast.CommentNode, *ast.CommentGroupNode:
		return &node{kind: kNull, pos: pos}
	}
	c.errorf(pos, "unsupported YAML construct (%s)", an.Type())
	return &node{kind: kNull, pos: pos}
}

func isFlow(values []*ast.MappingValueNode) bool {
	return len(values) > 0 && values[0].IsFlowStyle
}

func (c *converter) mapping(pos Pos, values []*ast.MappingValueNode) *node {
	n := &node{kind: kMap, pos: pos}
	seen := map[string]Pos{}
	for _, mv := range values {
		if mv.Key != nil && mv.Key.IsMergeKey() {
			c.errorf(posOf(mv.Key), "merge keys (<<) are not supported; write the keys out")
			continue
		}
		k := c.convert(mv.Key)
		if k.kind != kScalar {
			c.errorf(k.pos, "a key must be a plain name, not %s", k.describe())
			continue
		}
		name := fmt.Sprint(k.val)
		k.val = name
		if p, dup := seen[name]; dup {
			c.errorf(k.pos, "duplicate key %q (first at line %d)", name, p.Line)
			continue
		}
		seen[name] = k.pos
		n.keys = append(n.keys, k)
		n.vals = append(n.vals, c.convert(mv.Value))
	}
	// A mapping is where its first key is (goccy positions a block mapping
	// at its first ':').
	if len(n.keys) > 0 && !isFlow(values) {
		n.pos = n.keys[0].pos
	}
	return n
}
