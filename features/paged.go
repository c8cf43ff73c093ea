package features

// paged is a growable array in fixed pages of pageLen elements: growing it
// never copies nor leaves a discarded array behind (append-doubling holds
// the old and the new array at once and leaves ~4× the final size of
// garbage when it grows by 1.25×), and its memory is its length rounded up
// to a page.
type paged[T any] struct {
	pages [][]T
	n     int
}

const (
	pageBits = 15
	pageLen  = 1 << pageBits
	pageMask = pageLen - 1
)

// len returns the number of elements.
func (p *paged[T]) len() int { return p.n }

// at returns element i.
func (p *paged[T]) at(i int32) *T { return &p.pages[i>>pageBits][i&pageMask] }

// get returns element i.
func (p *paged[T]) get(i int32) T { return p.pages[i>>pageBits][i&pageMask] }

// push appends v and returns its index.
func (p *paged[T]) push(v T) int32 {
	if p.n&pageMask == 0 && p.n>>pageBits == len(p.pages) {
		p.pages = append(p.pages, make([]T, pageLen))
	}
	i := p.n
	p.pages[i>>pageBits][i&pageMask] = v
	p.n++
	return int32(i)
}

// reset empties p.
func (p *paged[T]) reset() { *p = paged[T]{} }
