// Returning freed heap memory to the system, as glibc's malloc_trim(3) does (PyTorch's CPU allocator leaves this to
// the C library; a long-lived server has to ask).
#if canImport(Glibc)
import CMalloc
#endif

/// Process memory housekeeping.
public enum Memory {
    /// Hands the C allocator's free memory back to the kernel (glibc keeps freed blocks in its arenas, so a
    /// server's RSS would otherwise stay at the peak of its largest request). Call when no run is computing.
    public static func returnFreedToSystem() {
        #if canImport(Glibc)
        _ = malloc_trim(0)
        #endif
    }
}
