package CiJobsTest;

# The test harness: a real nginx with the module, in front of one or more
# CI emulators, on free loopback ports, in a temporary directory.
#
#   my $t = CiJobsTest->new(
#       emulators => { plain => {}, tls => { tls => 'good' } },
#       http      => <<'EOF',
#           server {
#               listen 127.0.0.1:%%PORT%%;
#               location /ci/ { ci_jobs on; %%CREDENTIALS%%
#                               ci_jobs_pass http://127.0.0.1:%%EMU_plain%%; }
#           }
#   EOF
#   );
#   my $r = $t->get('/ci/jobs/jobsSuccess1');   # { status, headers, body }
#   my @seen = $t->upstream_requests;            # what the emulator received
#
# With metadata => { period => 4, lifetime => 8 }, t/emulator/metadata.pl
# plays the CVM metadata service (%%META%%: its URL), rotating role
# credentials; an emulator with secrets_file => 1 accepts only those still
# valid, each with its token (revoke_every => R: revoked at each multiple
# of R seconds since the service started, whatever their ExpiredTime).  Every role key and token is a secret the
# log check looks for.
#
# An emulator with address => '127.0.0.2' listens there (all of 127/8 is
# loopback), with port_of => NAME on NAME's port.  $t->start_dns(NAME =>
# [ADDRESS ...]) runs t/emulator/dns.pl (its port: $t->dns_port), whose
# answers dns_answer replaces and dns_silent stops; a name's list may start
# with 'delay=SECONDS' (answered that much later) or be ['silent'] (never
# answered).
#
# An emulator with callback => '/PATH' posts CI's notifications of its
# timed jobs and runs to http://127.0.0.1:%%PORT%%/PATH when they end (in
# JSON with callback_json => 1); $t->callbacks lists those it sent.
#
# Placeholders: %%PORT%% (nginx), %%EMU_<name>%% (an emulator's port),
# %%DIR%% (the test's directory), %%CA%% (the test CA certificate),
# %%HOST%% (the bucket's host name), %%CREDENTIALS%% (bucket, region and
# the test key pair).
#
# $t->done stops everything; the test fails if nginx's error log holds an
# [alert], [emerg] or [crit] line, or if a secret shows up in a log.  With
# TEST_NGINX_VALGRIND=1 nginx runs under valgrind memcheck and any error it
# reports fails the test; so does every nginx -t (nginx_test, and the one
# start_nginx runs first), as configuration time has memory errors of its
# own.
#
# With TEST_NGINX_ASAN set (make test-asan), TEST_NGINX_MODULE should be a
# module built with -fsanitize=address,undefined: nginx alone (not the
# emulators, chromium or node) gets the gcc ASan and UBSan runtimes in
# LD_PRELOAD (TEST_NGINX_ASAN's value, or with 1 what gcc -print-file-name
# names), and each nginx process writes ASan's and LSan's reports to
# asan.<pid> in the test's directory, UBSan's to nginx's stderr; any report
# fails the test ($t->done, and nginx_test for nginx -t).  Leak detection
# stays on; t/lsan.supp, for nginx -t only, names nginx's own leaks.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use Fcntl qw(:flock);
use File::Path qw(make_path);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);

our $ROOT = abs_path(dirname(__FILE__) . '/../..');
our $NGINX = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
our $MODULE = $ENV{TEST_NGINX_MODULE}
    || "$ROOT/build/ngx_http_ci_jobs_module.so";
our $EMULATOR = "$ROOT/t/emulator/ci-emulator.pl";
our $METADATA = "$ROOT/t/emulator/metadata.pl";
our $ROLE = 'ci-gateway';

our $BUCKET = 'examplebucket-1250000000';
our $REGION = 'ap-beijing';
our $HOST = "$BUCKET.ci.$REGION.myqcloud.com";
our $SECRET_ID = 'AKIDgatewaytest0000000000000000000001';
our $SECRET_KEY = 'gatewaytestsecretkey00000000000001';
# the key of examples' access-key sets (kid k1): 32 bytes, base64url
our $ACCESS_KEY = 'Y2ktam9icy1leGFtcGxlLWFjY2Vzcy1rZXktMzJieXQ';

my $VALGRIND = $ENV{TEST_NGINX_VALGRIND};
my $ASAN = $ENV{TEST_NGINX_ASAN};
$ASAN = join ' ', map { my $f = `gcc -print-file-name=$_`; chomp $f; $f }
    qw(libasan.so libubsan.so) if ($ASAN // '') eq '1';

sub new {
    my ($class, %args) = @_;

    my $self = bless {
        dir => tempdir('ci-jobs-test-XXXXXX', TMPDIR => 1,
                       CLEANUP => !$ENV{TEST_NGINX_LEAVE}),
        emulators => $args{emulators} || { plain => {} },
        http => $args{http},
        workers => $args{workers} || 1,
        error_log_level => $args{error_log_level} || 'info',
        ports => {},
        pids => {},
        secrets => [ $SECRET_KEY, @{ $args{secrets} || [] } ],
    }, $class;

    $self->{ports}{nginx} = free_port();

    for my $name (sort keys %{ $self->{emulators} }) {
        $self->{ports}{"emu_$name"} = free_port();
    }

    # emulators on other loopback addresses may share another's port
    for my $name (sort keys %{ $self->{emulators} }) {
        my $other = $self->{emulators}{$name}{port_of} or next;
        $self->{ports}{"emu_$name"} = $self->{ports}{"emu_$other"};
    }

    if (my $m = $args{metadata}) {
        $self->{metadata} = { period => 4, lifetime => 8,
                              seed => sprintf('%06d', int rand 1e6), %$m };
        $self->{ports}{metadata} = free_port();
        push @{ $self->{secrets} },
            map { (role_key($self->{metadata}{seed}, $_),
                   role_token($self->{metadata}{seed}, $_)) } 0 .. 300;
        $self->start_metadata;
    }

    $self->make_certificates;
    $self->start_emulators;
    $self->start_nginx if defined $self->{http} && ($args{start} // 1);

    return $self;
}

sub dir { $_[0]{dir} }
sub port { $_[0]{ports}{nginx} }
sub emulator_port { $_[0]{ports}{"emu_$_[1]"} }

# A port for a listener of the test, below the kernel's ephemeral range
# (ip_local_port_range): a port the kernel picked for us, closed, can be
# taken by any outgoing connection before nginx binds it, as one of the
# suite's busy tests saw when another suite ran beside it.  And reserved
# for this process while it lives: test files run two at a time, and a
# port merely found free could be taken by the other before this one's
# nginx binds it (then talking to the other's nginx).  The reservation is
# a lock on a file named after the port, which the other's free_port()
# skips; the kernel drops it when the process ends, however it ends.
my %reserved;    # port => the locked file

sub free_port {
    my ($low) = slurp('/proc/sys/net/ipv4/ip_local_port_range') =~ /(\d+)/;
    $low = 32768 unless $low && $low > 11024;
    my $locks = File::Spec->tmpdir . '/ci-jobs-test-ports';
    eval { make_path($locks) };
    for (1 .. 200) {
        my $port = 10000 + int rand($low - 10000);
        next if $reserved{$port};
        # (another user's lock file, which this one cannot open: unlocked)
        my $lock;
        if (open $lock, '>', "$locks/$port") {
            flock $lock, LOCK_EX | LOCK_NB or next;
        }
        my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                      LocalPort => $port, Proto => 'tcp',
                                      ReuseAddr => 1) or next;
        close $s;
        $reserved{$port} = $lock;
        return $port;
    }
    die "no free port below $low";
}

# A test CA, a server certificate for the bucket's host signed by it, one
# for another name signed by it, and a self-signed one nobody trusts.
sub make_certificates {
    my ($self) = @_;
    my $d = "$self->{dir}/tls";
    make_path($d);

    my $openssl = sub {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            open STDOUT, '>', '/dev/null';
            open STDERR, '>', '/dev/null';
            exec 'openssl', @_;
            exit 127;
        }
        waitpid $pid, 0;
        $? == 0 or die "openssl @_ failed";
    };
    my $ext = "$d/ext.cnf";

    $openssl->(qw(req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=ci-jobs-test-ca),
               '-keyout', "$d/ca.key", '-out', "$d/ca.crt",
               '-addext', 'basicConstraints=critical,CA:TRUE',
               '-addext', 'keyUsage=critical,keyCertSign,cRLSign');

    for my $cert ([good => $HOST], [wrong => 'other.example.com']) {
        my ($name, $cn) = @$cert;
        open my $fh, '>', $ext or die;
        print $fh "subjectAltName=DNS:$cn\n";
        close $fh;
        $openssl->(qw(req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes), '-subj', "/CN=$cn",
                   '-keyout', "$d/$name.key", '-out', "$d/$name.csr");
        $openssl->(qw(x509 -req -days 2 -set_serial), int(rand(1e9)),
                   '-in', "$d/$name.csr", '-CA', "$d/ca.crt",
                   '-CAkey', "$d/ca.key", '-extfile', $ext,
                   '-out', "$d/$name.crt");
    }

    $openssl->(qw(req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2), '-subj', "/CN=$HOST",
               '-addext', "subjectAltName=DNS:$HOST",
               '-keyout', "$d/untrusted.key", '-out', "$d/untrusted.crt");

    $self->{ca} = "$d/ca.crt";
}

sub start_emulators {
    my ($self) = @_;

    for my $name (sort keys %{ $self->{emulators} }) {
        my $opt = $self->{emulators}{$name};
        my $pidfile = "$self->{dir}/emu_$name.pid";
        my @cmd = ($^X, $EMULATOR,
                   '--listen', ($opt->{address} // '127.0.0.1') . ':'
                               . $self->emulator_port($name),
                   '--host', $opt->{host} // $HOST,
                   '--secret', "$SECRET_ID:$SECRET_KEY",
                   '--record', "$self->{dir}/emu_$name.jsonl",
                   '--pid-file', $pidfile);

        push @cmd, map { ('--secret', $_) } @{ $opt->{secrets} || [] };
        push @cmd, '--require-token', $opt->{token} if $opt->{token};
        push @cmd, '--secrets-file', "$self->{dir}/role.secrets"
            if $opt->{secrets_file};
        push @cmd, '--clock-offset', $opt->{clock_offset}
            if $opt->{clock_offset};
        push @cmd, '--stale-after', $opt->{stale_after}
            if $opt->{stale_after};
        push @cmd, '--idle-timeout', $opt->{idle_timeout}
            if $opt->{idle_timeout};
        push @cmd, '--callback',
                   "http://127.0.0.1:$self->{ports}{nginx}$opt->{callback}"
            if $opt->{callback};
        push @cmd, '--callback-json' if $opt->{callback_json};

        if (my $tls = $opt->{tls}) {
            push @cmd, '--tls-cert', "$self->{dir}/tls/$tls.crt",
                       '--tls-key', "$self->{dir}/tls/$tls.key";
        }

        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            open STDOUT, '>>', "$self->{dir}/emu_$name.log";
            open STDERR, '>&', \*STDOUT;
            exec @cmd or die "exec: $!";
        }

        $self->{pids}{"emu_$name"} = $pid;
        wait_for(sub { -s $pidfile }, 15)
            or die "emulator $name did not start: "
                   . slurp("$self->{dir}/emu_$name.log");
    }
}

sub stop_emulator {
    my ($self, $name) = @_;
    my $pid = delete $self->{pids}{"emu_$name"} or return;
    kill 'TERM', $pid;
    waitpid $pid, 0;
    unlink "$self->{dir}/emu_$name.pid";
}

sub restart_emulator {
    my ($self, $name) = @_;
    $self->stop_emulator($name);
    local $self->{emulators} = { $name => $self->{emulators}{$name} };
    $self->start_emulators;
}

# --- a DNS server ------------------------------------------------------------

# t/emulator/dns.pl on a UDP port of 127.0.0.1: the A records of
# dns_answer(NAME => [ADDRESS ...], ...) (['delay=S', ADDRESS ...]: S s
# late; ['silent']: never), or none at all (dns_silent).
sub start_dns {
    my ($self, %answers) = @_;
    my $d = $self->{dir};
    my $pidfile = "$d/dns.pid";
    $self->{ports}{dns} = free_port();
    $self->dns_answer(%answers);
    my @cmd = ($^X, "$ROOT/t/emulator/dns.pl",
               '--listen', "127.0.0.1:$self->{ports}{dns}", '--ttl', 1,
               '--zone-file', "$d/dns.zone", '--record', "$d/dns.jsonl",
               '--pid-file', $pidfile);
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$d/dns.log";
        open STDERR, '>&', \*STDOUT;
        exec @cmd or die "exec: $!";
    }
    $self->{pids}{dns} = $pid;
    wait_for(sub { -s $pidfile }, 15)
        or die "DNS server did not start: " . slurp("$d/dns.log");
}

sub dns_port { $_[0]{ports}{dns} }

# the zone, replaced whole (read by the server at each query)
sub dns_answer {
    my ($self, %answers) = @_;
    my $file = "$self->{dir}/dns.zone";
    open my $fh, '>', "$file.tmp" or die;
    print $fh "$_ @{ $answers{$_} }\n" for sort keys %answers;
    close $fh;
    rename "$file.tmp", $file or die;
}

sub dns_silent {
    my ($self) = @_;
    my $file = "$self->{dir}/dns.zone";
    open my $fh, '>', "$file.tmp" or die;
    print $fh "silent\n";
    close $fh;
    rename "$file.tmp", $file or die;
}

# --- the metadata service ---------------------------------------------------

sub role_key   { sprintf 'rolekey%s%020d', @_ }
sub role_token { sprintf 'roletoken%s%030d', @_ }

sub start_metadata {
    my ($self) = @_;
    my $m = $self->{metadata};
    my $pidfile = "$self->{dir}/metadata.pid";
    unlink $pidfile;
    my @cmd = ($^X, $METADATA,
               '--listen', '127.0.0.1:' . $self->{ports}{metadata},
               '--role', $ROLE, '--period', $m->{period},
               '--lifetime', $m->{lifetime}, '--seed', $m->{seed},
               '--secrets-file', "$self->{dir}/role.secrets",
               '--record', "$self->{dir}/metadata.jsonl",
               '--mode-file', "$self->{dir}/metadata.mode",
               '--pid-file', $pidfile,
               $m->{revoke_every} ? ('--revoke-every', $m->{revoke_every})
                                  : ());
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$self->{dir}/metadata.log";
        open STDERR, '>&', \*STDOUT;
        exec @cmd or die "exec: $!";
    }
    $self->{pids}{metadata} = $pid;
    wait_for(sub { -s $pidfile }, 15)
        or die "metadata service did not start: "
               . slurp("$self->{dir}/metadata.log");
}

sub stop_metadata {
    my ($self) = @_;
    my $pid = delete $self->{pids}{metadata} or return;
    kill 'TERM', $pid;
    waitpid $pid, 0;
}

# "ok", "500", "timeout", "malformed", "code", "past", "empty", "norole",
# "keepalive", "dotrole", "far" (t/emulator/metadata.pl)
sub metadata_mode {
    my ($self, $mode) = @_;
    my $f = "$self->{dir}/metadata.mode";
    open my $fh, '>', "$f.tmp" or die;
    print $fh "$mode\n";
    close $fh;
    rename "$f.tmp", $f or die;
}

sub metadata_requests {
    my ($self) = @_;
    my $file = "$self->{dir}/metadata.jsonl";
    return () unless -e $file;
    open my $fh, '<', $file or die;
    return map { decode_json($_) } grep { /\S/ } <$fh>;
}

sub metadata_url {
    my ($self) = @_;
    return "http://127.0.0.1:$self->{ports}{metadata}"
         . '/latest/meta-data/cam/security-credentials/';
}

sub credentials {
    return "ci_jobs_bucket $BUCKET; ci_jobs_region $REGION; "
         . "ci_jobs_secret_id $SECRET_ID; ci_jobs_secret_key $SECRET_KEY;";
}

sub expand {
    my ($self, $text) = @_;
    my $creds = credentials();
    $text =~ s/%%PORT%%/$self->{ports}{nginx}/g;
    $text =~ s/%%EMU_(\w+)%%/$self->{ports}{"emu_$1"} \/\/ die "no emulator $1"/ge;
    $text =~ s/%%DIR%%/$self->{dir}/g;
    $text =~ s/%%CA%%/$self->{ca}/g;
    $text =~ s/%%HOST%%/$HOST/g;
    $text =~ s/%%CREDENTIALS%%/$creds/g;
    $text =~ s/%%META%%/$self->metadata_url/ge if $self->{metadata};
    return $text;
}

sub write_conf {
    my ($self, $http, $file) = @_;
    my $d = $self->{dir};
    my $user = $> == 0 ? 'user root;' : '';
    my $level = $self->{error_log_level};

    make_path("$d/temp");
    open my $fh, '>', $file or die "$file: $!";
    print $fh $self->expand(<<"EOF");
load_module $MODULE;
$user
worker_processes $self->{workers};
daemon off;
master_process on;
pid $d/nginx.pid;
error_log $d/error.log $level;
events { worker_connections 1024; }
http {
    access_log $d/access.log;
    client_body_temp_path $d/temp/body;
    proxy_temp_path $d/temp/proxy;
    fastcgi_temp_path $d/temp/fastcgi;
    uwsgi_temp_path $d/temp/uwsgi;
    scgi_temp_path $d/temp/scgi;
$http
}
EOF
    close $fh;
}

# An example of examples/ (NAME) as the test's nginx runs it, written into
# the test's directory; returns the file.  Its paths go into the test's
# directory (the files it names under /etc/nginx/ci/ are made: credentials
# with the test keys, the certificate and key the emulators' CA signed, a
# JWK Set of $ACCESS_KEY),
# nginx stays in the foreground, every location reaches CI at PASS (by default the first emulator) and the
# metadata service at the harness's, and each listen port moves onto
# loopback: port GATEWAY (80) becomes the harness's (port()), the others
# free ones, kept in PORTS (a hash reference: the example's port => the
# test's).  EDIT, a code reference, changes the text further ($_).
sub example {
    my ($self, $name, %opt) = @_;
    my $d = $self->{dir};
    my $gateway = $opt{gateway} // 80;
    my $ports = $opt{ports} // {};
    my $pass = $opt{pass} // 'http://127.0.0.1:'
        . $self->emulator_port((sort keys %{ $self->{emulators} })[0]);
    my $text = slurp("$ROOT/examples/$name") or die "no example $name";

    $text =~ s{^load_module modules/ngx_http_ci_jobs_module\.so;}
              {load_module $MODULE;}m or die "$name: no load_module line";
    $text =~ s{^user \S+;}{$> == 0 ? 'user root;' : ''}me;
    # in the foreground, the harness's child, as its own nginx runs
    $text =~ s{^(pid \S+;)}{daemon off;\n$1}m or die "$name: no pid line";
    $text =~ s{^pid \S+;}{pid $d/nginx.pid;}m;
    $text =~ s{^error_log \S+;}{error_log $d/error.log info;}m;
    $text =~ s{\baccess_log /[^\s;]+}{access_log $d/access.log}g;
    $text =~ s{/etc/nginx/ci/}{$d/etc/}g;
    $text =~ s{/var/cache/nginx/}{$d/cache/}g;
    $text =~ s{\blisten (\d+)\b}{
        my $p = $1 == $gateway ? $self->port
              : ($ports->{$1} //= free_port());
        "listen 127.0.0.1:$p"
    }ge;

    my $inject = join "\n    ", "ci_jobs_pass $pass;",
        $self->{metadata} ? 'ci_jobs_metadata_url ' . $self->metadata_url
                            . ';' : (),
        map { "${_}_temp_path $d/temp/$_;" }
            qw(client_body proxy fastcgi uwsgi scgi);
    $text =~ s/^http \{\n/http {\n    $inject\n/m
        or die "$name: no http block";

    if ($opt{edit}) {
        local $_ = $text;
        $opt{edit}->();
        $text = $_;
    }

    make_path("$d/etc", "$d/cache", "$d/temp");
    while ($text =~ m{\Q$d\E/etc/([\w.-]+)}g) {
        my $f = $1;
        my $content = $f =~ /\.credentials$/
            ? "SecretId=$SECRET_ID\nSecretKey=$SECRET_KEY\n"
            : $f =~ /\.(crt|key)$/ ? slurp("$d/tls/good.$1")
            : $f =~ /\.jwks$/
            ? qq({"keys":[{"kty":"oct","kid":"k1","k":"$ACCESS_KEY"}]}\n)
            : die "$name: what is $f?";
        open my $fh, '>', "$d/etc/$f" or die "$d/etc/$f: $!";
        print $fh $content;
        close $fh;
    }

    my $file = "$d/$name";
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text;
    close $fh;
    return $file;
}

# nginx -t on a configuration: (exit status, output)
sub nginx_test {
    my ($self, $http) = @_;
    my $file = "$self->{dir}/test-" . int(rand(1e9)) . '.conf';
    $self->write_conf($http, $file);
    return $self->nginx_test_file($file);
}

# the same on a configuration file
sub nginx_test_file {
    my ($self, $file) = @_;
    my @cmd = ($NGINX, '-t', '-p', $self->{dir}, '-c', $file);
    # valgrind-t.*, apart from the serving nginx's valgrind.* (check_logs),
    # one name a run, as start_nginx may test nginx.conf more than once
    my $vlog = "$self->{dir}/valgrind-t." . ++$self->{nginx_tests};
    unshift @cmd, valgrind("$vlog.%p.log") if $VALGRIND;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        $self->sanitizer_env;
        $ENV{LSAN_OPTIONS} = "suppressions=$ROOT/t/lsan.supp"
                           . ':print_suppressions=0' if $ASAN;
        exec @cmd or exit 127;
    }
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    my $status = $? >> 8;
    $self->check_sanitizers('nginx -t', output => $out) if $ASAN;
    check_valgrind('nginx -t', glob "$vlog.*.log") if $VALGRIND;
    return ($status, $out);
}

# valgrind memcheck's command line, its reports to LOG (a --log-file
# pattern); t/valgrind.supp names nginx's own leaks
sub valgrind {
    my ($log) = @_;
    return ('valgrind', '--quiet', '--trace-children=yes',
            '--leak-check=full', '--show-leak-kinds=definite',
            '--errors-for-leak-kinds=definite', '--num-callers=30',
            "--suppressions=$ROOT/t/valgrind.supp", "--log-file=$log");
}

# One test: the valgrind logs given are empty (--quiet writes errors only).
sub check_valgrind {
    my ($what, @files) = @_;
    my @reports;
    for my $f (@files) {
        my $v = slurp($f);
        push @reports, "$f:\n$v" if $v =~ /\S/;
    }
    ok(!@reports, "$what: valgrind reports no error")
        or diag(join "\n", @reports);
}

# In a child about to exec nginx: the sanitizer runtimes, and the module
# too, so that it is still mapped when LeakSanitizer symbolizes stacks at
# exit (nginx unloads it with the cycle); ASan's reports go to files.
sub sanitizer_env {
    my ($self) = @_;
    return unless $ASAN;
    $ENV{LD_PRELOAD} = "$ASAN $MODULE";
    # nginx has no frame pointers: whole allocation stacks need the slow
    # unwinder
    $ENV{ASAN_OPTIONS} = "log_path=$self->{dir}/asan:detect_leaks=1"
                       . ':fast_unwind_on_malloc=0';
    # read by libubsan at its first report, from the environment block that
    # nginx's master and workers overwrite with their titles: only nginx -t
    # gets stacks; elsewhere the report is the file:line one (and UB stops
    # the process anyway, -fno-sanitize-recover)
    $ENV{UBSAN_OPTIONS} = 'print_stacktrace=1:halt_on_error=1';
}

# One test: no new asan.<pid> file, and no report in nginx's stderr
# (%stderr: name => text), where gcc's libubsan writes next to libasan
# whatever log_path says.
sub check_sanitizers {
    my ($self, $what, %stderr) = @_;
    my @reports;
    for my $f (glob "$self->{dir}/asan.*") {
        next if $self->{reported}{$f}++;
        push @reports, "$f:\n" . slurp($f);
    }
    for my $name (sort keys %stderr) {
        push @reports, "$name:\n$1" if $stderr{$name}
            =~ /^([^\n]*(?:runtime error|Sanitizer)(?s:.*))/m;
    }
    ok(!@reports, "$what: no ASan, LSan or UBSan report")
        or diag(join "\n", @reports);
}

# nginx with the harness's configuration around the test's http block, or
# with a whole configuration file of the test's own (FILE)
sub start_nginx {
    my ($self, $file) = @_;
    my $conf = $file // "$self->{dir}/nginx.conf";
    $self->write_conf($self->{http}, $conf) unless defined $file;
    $self->{conf} = $conf;

    # its nginx -t under valgrind first: the configuration's memory errors
    # are reported even when they keep nginx from starting (nginx did not
    # start dies before check_logs reads valgrind's logs)
    $self->nginx_test_file($conf) if $VALGRIND;

    my @cmd = ($NGINX, '-p', $self->{dir}, '-c', $conf);
    unshift @cmd, valgrind("$self->{dir}/valgrind.%p.log") if $VALGRIND;

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$self->{dir}/nginx.out";
        open STDERR, '>&', \*STDOUT;
        $self->sanitizer_env;
        exec @cmd or die "exec: $!";
    }

    $self->{pids}{nginx} = $pid;

    # started: the port answers and this nginx has workers, which it
    # forks only once it listens (the port may be another's when this
    # one could not bind it)
    my $port = $self->port;
    my $exited;
    wait_for(sub {
        $exited = 1 if waitpid($pid, WNOHANG) == $pid;
        return 1 if $exited;
        IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 1)
            && (my @workers = $self->worker_pids);
    }, $VALGRIND ? 60 : 15);
    die "nginx did not start: " . slurp("$self->{dir}/nginx.out")
        . slurp("$self->{dir}/error.log")
        if $exited || !(my @workers = $self->worker_pids);
}

# the master's children, workers and cache helpers alike
sub worker_pids {
    my ($self) = @_;
    my $master = $self->{pids}{nginx} // return;
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my $line = slurp($stat) or next;
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        my ($pid, $ppid) = $line =~ /\A(\d+) \(.*\) \S+ (\d+) /s or next;
        push @pids, $pid if $ppid == $master;
    }
    return sort { $a <=> $b } @pids;
}

# nginx -s reload, returning once every old worker has exited and as many
# new ones run: after it, only the new configuration answers
sub reload {
    my ($self) = @_;
    my %old = map { $_ => 1 } $self->worker_pids;
    kill 'HUP', $self->{pids}{nginx};
    wait_for(sub {
        my @now = $self->worker_pids;
        !grep({ $old{$_} } @now) && @now >= $self->{workers};
    }, $VALGRIND ? 60 : 15) or die "reload: the old workers did not exit";
}

sub stop_nginx {
    my ($self) = @_;
    my $pid = delete $self->{pids}{nginx} or return;
    kill 'QUIT', $pid;
    my $deadline = time + ($VALGRIND ? 60 : 10);
    while (time < $deadline) {
        return if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
}

# Stops everything and checks the logs: call it before done_testing.
sub done {
    my ($self) = @_;
    $self->stop_all;
    $self->check_logs if $self->{conf};
}

sub stop_all {
    my ($self) = @_;
    $self->stop_nginx;
    $self->stop_emulator($_) for map { s/^emu_//r } grep { /^emu_/ }
        keys %{ $self->{pids} };
    $self->stop_metadata;
    if (my $pid = delete $self->{pids}{dns}) {
        kill 'TERM', $pid;
        waitpid $pid, 0;
    }
}

sub DESTROY {
    my ($self) = @_;
    local $?;
    $self->stop_all if $self->{pids};
}

sub check_logs {
    my ($self) = @_;
    my $d = $self->{dir};
    my $log = slurp("$d/error.log");
    my @bad = grep { /\[(alert|emerg|crit)\]/ } split /\n/, $log;
    ok(!@bad, 'no alert, emerg or crit in the error log')
        or diag(join "\n", @bad);

    my $everything = $log . slurp("$d/access.log");
    my @leaked = grep { index($everything, $_) >= 0 } @{ $self->{secrets} };
    ok(!@leaked, 'no secret key in the error or access log');

    check_valgrind('nginx', glob "$d/valgrind.*.log") if $VALGRIND;

    $self->check_sanitizers('nginx', 'nginx.out' => slurp("$d/nginx.out"),
                            'error.log' => $log) if $ASAN;
}

sub error_log { slurp("$_[0]{dir}/error.log") }

# --- the client -----------------------------------------------------------

# get(PATH, HEADER => VALUE ...)
sub get {
    my ($self, $path, %headers) = @_;
    return $self->request('GET', $path, %headers);
}

sub request {
    my ($self, $method, $path, %headers) = @_;
    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    $req .= "$_: $headers{$_}\r\n" for sort keys %headers;
    return $self->raw("$req\r\n");
}

# GETs of each of @$paths in turn over one client connection: the answers
# in order, up to one that ends the connection or that $stop (if given)
# says is the last
sub get_keepalive {
    my ($self, $paths, $stop) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $self->port,
                                  Timeout => 10) or die "connect: $!";
    my @answers;
    for my $path (@$paths) {
        print $s "GET $path HTTP/1.1\r\nHost: localhost\r\n\r\n";
        my $head = '';
        while ($head !~ /\r\n\r\n/) {
            sysread($s, $head, 4096, length $head) or last;
        }
        my ($h, $body) = split /\r\n\r\n/, $head, 2;
        my ($len) = ($h // '') =~ /^Content-Length: (\d+)/mi;
        $body //= '';
        while (defined $len && length $body < $len) {
            sysread($s, $body, $len - length $body, length $body) or last;
        }
        push @answers, parse_response("$h\r\n\r\n$body");
        last if !defined $len || ($stop && $stop->($answers[-1]));
    }
    close $s;
    return @answers;
}

# sends bytes as they are; returns { status, headers => { lc name => value },
# header_lines => [ [name, value] ... ], body, raw }
sub raw {
    my ($self, $bytes) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $self->port,
                                  Timeout => 30)
        or die "connect: $!";
    print $s $bytes;
    local $/;
    my $raw = <$s> // '';
    close $s;
    return parse_response($raw);
}

sub parse_response {
    my ($raw) = @_;
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    $head //= '';
    $body //= '';
    my ($status_line, @lines) = split /\r\n/, $head;
    my ($status) = ($status_line // '') =~ m{^HTTP/1\.[01] (\d{3})};
    my (%h, @pairs);
    for (@lines) {
        my ($n, $v) = /^([^:]+):\s*(.*)$/ or next;
        push @pairs, [$n, $v];
        $h{lc $n} = exists $h{lc $n} ? "$h{lc $n}, $v" : $v;
    }
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        my $decoded = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r]*\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $decoded .= substr($body, 0, $n, '');
            $body =~ s/^\r\n//;
        }
        $body = $decoded;
    }
    return { status => $status // 0, headers => \%h, header_lines => \@pairs,
             body => $body, raw => $raw };
}

# --- the emulator's record --------------------------------------------------

sub upstream_requests {
    my ($self, $name) = @_;
    return $self->emulator_lines($name, '');
}

# the notifications the emulator posted: [ { event, id, time, status } ]
sub callbacks {
    my ($self, $name) = @_;
    return $self->emulator_lines($name, '.callbacks');
}

# the JSON lines of an emulator's record (the first emulator by default)
sub emulator_lines {
    my ($self, $name, $suffix) = @_;
    $name //= (sort keys %{ $self->{emulators} })[0];
    my $file = "$self->{dir}/emu_$name.jsonl$suffix";
    return () unless -e $file;
    open my $fh, '<', $file or die;
    return map { decode_json($_) } grep { /\S/ } <$fh>;
}

sub forget_upstream_requests {
    my ($self) = @_;
    for my $name (keys %{ $self->{emulators} }) {
        truncate "$self->{dir}/emu_$name.jsonl", 0;
    }
}

# --- helpers ----------------------------------------------------------------

# Whether the nginx under test is VERSION ("1.25.1") or later
sub nginx_at_least {
    my ($version) = @_;
    my ($have) = `$NGINX -v 2>&1` =~ m{nginx/(\d+\.\d+\.\d+)} or return 0;
    my $number = sub { sprintf '%03d%03d%03d', split /\./, $_[0] };
    return $number->($have) ge $number->($version);
}

# A test that cannot run without something make deps installs: skipped when
# run by hand, failed under make test (TEST_NGINX_STRICT), where a missing
# prerequisite must not pass silently.
sub require_prerequisite {
    my ($present, $why) = @_;
    return if $present;
    if ($ENV{TEST_NGINX_STRICT}) {
        fail("prerequisite: $why");
        done_testing;
        exit 1;
    }
    plan skip_all => $why;
}

sub wait_for {
    my ($cond, $seconds) = @_;
    my $deadline = time + $seconds;
    while (time < $deadline) {
        my $r = eval { $cond->() };
        return $r if $r;
        sleep 0.05;
    }
    return;
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return scalar <$fh>;
}

# The XML error shape's Code, or undef.
sub error_code {
    my ($r) = @_;
    return $1 if $r->{body} =~ m{^<Error><Code>([^<]*)</Code>};
    return $1 if $r->{body} =~ m{^\{"Error":\{"Code":"([^"]*)"};
    return;
}

# What each socket received in SECS, or until nginx closed it: its
# response parsed (parse_response), closed => 1 when nginx closed it.
# For streams (event streams, held requests) sent on sockets of one's own.
sub read_for {
    my ($secs, @socks) = @_;
    my (%buf, %closed);
    my $sel = IO::Select->new(@socks);
    my $deadline = time + $secs;
    while ($sel->count && (my $left = $deadline - time) > 0) {
        for my $s ($sel->can_read($left < 0.05 ? $left : 0.05)) {
            if (sysread $s, my $chunk, 65536) {
                $buf{"$s"} .= $chunk;
            } else {
                $closed{"$s"} = 1;
                $sel->remove($s);
            }
        }
    }
    return map { +{ %{ parse_response($buf{"$_"} // '') },
                    closed => $closed{"$_"} // 0 } } @socks;
}

1;
