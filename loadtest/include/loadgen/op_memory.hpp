// op_memory: memory for one outstanding Asio operation at a time, reused by each, for a
// chain of operations that never overlap (a connection's connect, write, read; a timer).
//
// Asio 1.74 caches one freed operation block per thread. That is enough while every
// connection always has exactly one operation in flight (each completion frees a block
// and its handler starts the next), but not when connections go idle and come back (an
// open-loop run): blocks would be freed and allocated again for every request.
// bind_op_memory(memory, handler) gives the handler an associated allocator that serves
// its operations from `memory`; a second request while the block is taken, or a larger
// one, falls back to the heap, so correctness never depends on the chain being strict.
// Not thread-safe: one memory per chain, used on its io_context's thread.
#pragma once

#include <cstddef>
#include <new>
#include <utility>

namespace loadgen {

class op_memory {
 public:
  op_memory() = default;
  op_memory(const op_memory&) = delete;
  op_memory& operator=(const op_memory&) = delete;

  void* allocate(std::size_t size) {
    if (in_use_ || size > sizeof(storage_)) return ::operator new(size);
    in_use_ = true;
    return storage_;
  }
  void deallocate(void* pointer) {
    if (pointer == storage_) {
      in_use_ = false;
    } else {
      ::operator delete(pointer);
    }
  }

 private:
  alignas(std::max_align_t) unsigned char storage_[512];
  bool in_use_ = false;
};

template <class T>
class op_memory_allocator {
 public:
  using value_type = T;
  explicit op_memory_allocator(op_memory& memory) noexcept : memory_(&memory) {}
  template <class U>
  op_memory_allocator(const op_memory_allocator<U>& other) noexcept : memory_(other.memory_) {}
  T* allocate(std::size_t n) const { return static_cast<T*>(memory_->allocate(sizeof(T) * n)); }
  void deallocate(T* pointer, std::size_t) const noexcept { memory_->deallocate(pointer); }
  template <class U>
  bool operator==(const op_memory_allocator<U>& other) const noexcept {
    return memory_ == other.memory_;
  }
  template <class U>
  bool operator!=(const op_memory_allocator<U>& other) const noexcept {
    return memory_ != other.memory_;
  }

 private:
  template <class>
  friend class op_memory_allocator;
  op_memory* memory_;
};

template <class Handler>
class op_memory_handler {
 public:
  using allocator_type = op_memory_allocator<Handler>;
  op_memory_handler(op_memory& memory, Handler handler)
      : memory_(&memory), handler_(std::move(handler)) {}
  allocator_type get_allocator() const noexcept { return allocator_type(*memory_); }
  template <class... Args>
  void operator()(Args&&... args) {
    handler_(std::forward<Args>(args)...);
  }

 private:
  op_memory* memory_;
  Handler handler_;
};

template <class Handler>
op_memory_handler<Handler> bind_op_memory(op_memory& memory, Handler handler) {
  return op_memory_handler<Handler>(memory, std::move(handler));
}

}  // namespace loadgen
