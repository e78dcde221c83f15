import ArgumentParser
import Foundation

/// `tallyd dev`'s hold on its data directory while it runs: a second one on the same directory
/// would share the first one's PostgreSQL and, when it stopped, stop it under the first.
final class DevDirectoryLock {
  private let descriptor: Int32

  /// Takes the lock, or says which directory another `tallyd dev` holds.
  init(directory: String) throws {
    let path = "\(directory)/tallyd-dev.lock"
    self.descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
    guard self.descriptor >= 0 else {
      throw ValidationError("cannot open \(path): \(String(cString: strerror(errno)))")
    }
    guard flock(self.descriptor, LOCK_EX | LOCK_NB) == 0 else {
      close(self.descriptor)
      throw ValidationError(
        "another tallyd dev runs on \(directory): stop it first (Ctrl-C where it runs), or give another --data-dir")
    }
  }

  deinit { close(self.descriptor) }  // closing releases the lock; so does the process's exit
}
