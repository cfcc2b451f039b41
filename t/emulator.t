#!/usr/bin/perl

# The CI emulator itself (t/emulator/ci-emulator.pl), without nginx: it
# accepts the official signatures and nothing else, serves the documented
# jobs and queue, misbehaves on demand, speaks HTTP/1.x and TLS, records
# what it receives, and stops with its children.
#
# Requests are signed here by a signer of this file's own, written from the
# COS signature documentation and checked against its official vectors;
# the emulator's verifier (t/emulator/CosSignature.pm) is checked against
# the same vectors.

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/emulator";

use Digest::SHA qw(hmac_sha1_hex sha1_hex);
use Errno qw(ECONNRESET);
use File::Temp qw(tempdir);
use IO::Socket::IP;
use IO::Socket::SSL;
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use JSON::PP qw(decode_json);
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);

my $EMULATOR = "$FindBin::Bin/emulator/ci-emulator.pl";
my $HOST = 'examplebucket-1250000000.ci.ap-beijing.myqcloud.com';
my $ID = 'AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q';
my $KEY = 'BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz';
my $ID2 = 'AKIDsecondpair00000000000000000000002';
my $KEY2 = 'secondpairkey000000000000000000002';
my $QUEUE = 'p893bcda225bf4945a378da6662e81a89';
my $SKEW = "The difference between the request time and the server's time "
         . 'is too large.';
my $DIR = tempdir('ci-emulator-t-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# ===========================================================================
# A signer of our own, from cos-signature.md
# ===========================================================================

sub enc {
    my ($s) = @_;
    utf8::encode($s) if utf8::is_utf8($s);
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

# ([name, value] ...) -> ("n=v&n=v", "n;n"): lower(enc(name)), enc(value)
sub pairs {
    my @e = sort { $a->[0] cmp $b->[0] || $a->[1] cmp $b->[1] }
            map { [ lc enc($_->[0]), enc($_->[1]) ] } @_;
    return (join('&', map { "$_->[0]=$_->[1]" } @e),
            join(';', map { $_->[0] } @e));
}

# sign(method, decoded path, [params], [headers], id, key, "start;end")
#   -> (Authorization, { sign_key, params, headers, sha1, signature })
sub sign {
    my ($method, $path, $params, $headers, $id, $key, $key_time) = @_;
    my $sign_key = hmac_sha1_hex($key_time, $key);
    my ($p, $plist) = pairs(@$params);
    my ($h, $hlist) = pairs(@$headers);
    my $http_string = lc($method) . "\n$path\n$p\n$h\n";
    utf8::encode($http_string);     # the path's characters as UTF-8 bytes
    my $sha1 = sha1_hex($http_string);
    my $signature = hmac_sha1_hex("sha1\n$key_time\n$sha1\n", $sign_key);
    return ("q-sign-algorithm=sha1&q-ak=$id&q-sign-time=$key_time"
            . "&q-key-time=$key_time&q-header-list=$hlist"
            . "&q-url-param-list=$plist&q-signature=$signature",
            { sign_key => $sign_key, params => $p, headers => $h,
              sha1 => $sha1, signature => $signature });
}

# --- the official vectors: our signer first ---------------------------------

my @put_headers = (
    [ Date => 'Thu, 16 May 2019 06:45:51 GMT' ],
    [ Host => 'examplebucket-1250000000.cos.ap-beijing.myqcloud.com' ],
    [ 'Content-Type' => 'text/plain' ],
    [ 'Content-Length' => '13' ],
    [ 'Content-MD5' => 'mQ/fVh815F3k6TAUm8m0eg==' ],
    [ 'x-cos-acl' => 'private' ],
    [ 'x-cos-grant-read' => 'uin="100000000011"' ],
);
my ($put_auth, $v) = sign('PUT', '/exampleobject(腾讯云)', [], \@put_headers,
                          $ID, $KEY, '1557989151;1557996351');
is($v->{sign_key}, 'eb2519b498b02ac213cb1f3d1a3d27a3b3c9bc5f', 'signer: PUT SignKey');
is($v->{headers}, 'content-length=13&content-md5=mQ%2FfVh815F3k6TAUm8m0eg%3D%3D&content-type=text%2Fplain&date=Thu%2C%2016%20May%202019%2006%3A45%3A51%20GMT&host=examplebucket-1250000000.cos.ap-beijing.myqcloud.com&x-cos-acl=private&x-cos-grant-read=uin%3D%22100000000011%22',
   'signer: PUT HttpHeaders');
is($v->{sha1}, '8b2751e77f43a0995d6e9eb9477f4b685cca4172', 'signer: PUT SHA1(HttpString)');
is($v->{signature}, '3b8851a11a569213c17ba8fa7dcf2abec6935172', 'signer: PUT Signature');
like($put_auth, qr/&q-header-list=content-length;content-md5;content-type;date;host;x-cos-acl;x-cos-grant-read&q-url-param-list=&/,
     'signer: PUT header list, empty param list');

my @get_params = ([ 'response-content-type' => 'application/octet-stream' ],
                  [ 'response-cache-control' => 'max-age=600' ]);
my @get_headers = ([ Date => 'Thu, 16 May 2019 06:55:53 GMT' ],
                   [ Host => 'examplebucket-1250000000.cos.ap-beijing.myqcloud.com' ]);
my ($get_auth, $w) = sign('GET', '/exampleobject(腾讯云)', \@get_params,
                          \@get_headers, $ID, $KEY, '1557989753;1557996953');
is($w->{sign_key}, '937914bf490e9e8c189836aad2052e4feeb35eaf', 'signer: GET SignKey');
is($w->{params}, 'response-cache-control=max-age%3D600&response-content-type=application%2Foctet-stream',
   'signer: GET HttpParameters');
is($w->{sha1}, '54ecfe22f59d3514fdc764b87a32d8133ea611e6', 'signer: GET SHA1(HttpString)');
is($w->{signature}, '01681b8c9d798a678e43b685a9f1bba0f6c0e012', 'signer: GET Signature');

my %CI_VECTOR = (
    '/jobs/j1' => '86bd7ddf15d8a27b873c25a7e0388ec68db0f089',
    '/pic_jobs/j1' => '1d72f14378f6dccade0eda8aea4d41ba3dddff0a',
    "/jobs?queueId=p5ad1499214024af2bfaa4401d529xxxx&tag=Transcode&states=Failed&size=10"
        => '1f98c7ff182378dc5e0236faffffaa7bee49d0b1',
);
my %CI_AUTH;
for my $target (sort keys %CI_VECTOR) {
    my ($path, $query) = split /\?/, $target, 2;
    my @params = map { [ split /=/, $_, 2 ] } split /&/, $query // '';
    my ($auth, $s) = sign('GET', $path, \@params, [ [ host => $HOST ] ],
                          $ID, $KEY, '1700000000;1900000000');
    is($s->{signature}, $CI_VECTOR{$target}, "signer: CI vector $target");
    $CI_AUTH{$target} = $auth;
}
like($CI_AUTH{ (grep { /\?/ } keys %CI_AUTH)[0] },
     qr/&q-url-param-list=queueid;size;states;tag&/, 'signer: CI list param list');

# --- the official vectors: the emulator's verifier ----------------------------

use CosSignature ();

sub verdict {
    my ($method, $target, $headers, $auth, $now) = @_;
    my %h = map { lc $_->[0] => $_->[1] } @$headers;
    $h{authorization} = $auth;
    my $r = CosSignature::verify(method => $method, target => $target,
                                 headers => \%h, secrets => { $ID => $KEY },
                                 now => $now);
    return $r->{ok} ? 'ok' : $r->{code};
}

my $put_target = '/exampleobject%28%E8%85%BE%E8%AE%AF%E4%BA%91%29';
is(verdict('PUT', $put_target, \@put_headers, $put_auth, 1557989200), 'ok',
   'verifier: official PUT vector');
is(verdict('PUT', $put_target, [ map { $_->[0] eq 'Content-MD5'
                                       ? [ $_->[0], 'x' . $_->[1] ] : $_ }
                                 @put_headers ], $put_auth, 1557989200),
   'SignatureDoesNotMatch', 'verifier: PUT with a changed signed header');
my $get_target = "$put_target?response-content-type=application%2Foctet-stream"
               . '&response-cache-control=max-age%3D600';
is(verdict('GET', $get_target, \@get_headers, $get_auth, 1557989800), 'ok',
   'verifier: official GET vector');
(my $get_changed = $get_target) =~ s/600/601/;
is(verdict('GET', $get_changed, \@get_headers, $get_auth, 1557989800),
   'SignatureDoesNotMatch', 'verifier: GET with a changed parameter');
is(verdict('GET', $get_target, \@get_headers, $get_auth, 1557996954),
   'RequestTimeTooSkewed', 'verifier: GET vector after its KeyTime');
for my $target (sort keys %CI_AUTH) {
    is(verdict('GET', $target, [ [ Host => $HOST ] ], $CI_AUTH{$target},
               time), 'ok', "verifier: CI vector $target");
}

# ===========================================================================
# Emulators, connections, answers
# ===========================================================================

my %RUNNING;       # pid -> 1, stopped at the end whatever happens

END {
    for my $pid (keys %RUNNING) {
        kill 'TERM', $pid;
        waitpid $pid, 0;
    }
}

sub free_port {
    my $s = IO::Socket::IP->new(Listen => 1, LocalHost => '127.0.0.1',
                                LocalPort => 0, ReuseAddr => 1)
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub start_emulator {
    my ($name, @args) = @_;
    my $port = free_port();
    my %e = (name => $name, port => $port, pidfile => "$DIR/$name.pid",
             record => "$DIR/$name.jsonl", log => "$DIR/$name.log");
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', $e{log};
        open STDERR, '>&', \*STDOUT;
        exec $^X, $EMULATOR, '--listen', "127.0.0.1:$port", '--host', $HOST,
             '--secret', "$ID:$KEY", '--record', $e{record},
             '--pid-file', $e{pidfile}, @args
            or POSIX::_exit(127);
    }
    $RUNNING{$pid} = 1;
    $e{pid} = $pid;
    my $deadline = time + 10;
    sleep 0.02 until -s $e{pidfile} || time > $deadline;
    die "emulator $name did not start: " . slurp($e{log}) unless -s $e{pidfile};
    return \%e;
}

sub stop_emulator {
    my ($e) = @_;
    kill 'TERM', $e->{pid};
    waitpid $e->{pid}, 0;
    delete $RUNNING{ $e->{pid} };
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<:raw', $file or return '';
    local $/;
    return scalar <$fh>;
}

sub records {
    my ($e) = @_;
    return map { decode_json($_) } grep { /\S/ } split /\n/, slurp($e->{record});
}

# --- a connection -------------------------------------------------------------

sub connect_to {
    my ($e, $tls) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $e->{port},
                                Timeout => 5)
        or die "connect: $!";
    if ($tls) {
        IO::Socket::SSL->start_SSL($s, SSL_hostname => $HOST,
                                   SSL_verify_mode => SSL_VERIFY_PEER,
                                   SSL_ca_file => $tls,
                                   SSL_verifycn_name => $HOST,
                                   SSL_verifycn_scheme => 'http')
            or die "TLS: " . IO::Socket::SSL::errstr();
    }
    binmode $s;
    return { sock => $s, buf => '', tls => !!$tls };
}

# more bytes into $c->{buf}: the count, 0 at EOF, undef on error or timeout
sub fill {
    my ($c, $timeout) = @_;
    my $s = $c->{sock};
    unless ($c->{tls} && $s->pending) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        return undef unless select(my $rout = $rin, undef, undef, $timeout);
    }
    my $n = sysread($s, $c->{buf}, 1 << 20, length $c->{buf});
    $c->{err} = $! unless defined $n;
    return $n;
}

# one answer: { status, headers (lc name -> value), lines ([name, value]),
# body (decoded), wire_body (as sent), complete, reset, eof, t_head, t_end }
sub read_answer {
    my ($c, $method) = @_;
    my $t0 = time;
    my %r = (complete => 0);
    my $deadline = $t0 + 20;
    my $more = sub {
        my $n = fill($c, $deadline - time);
        return 1 if $n;
        $r{reset} = 1 if !defined $n && ($c->{err} // 0) == ECONNRESET;
        $r{eof} = 1 if defined $n;
        return 0;
    };

    until ($c->{buf} =~ /\r\n\r\n/) {
        $more->() or return \%r;
    }
    $r{t_head} = time - $t0;
    $c->{buf} =~ s/\A(.*?)\r\n\r\n//s;
    my ($status_line, @lines) = split /\r\n/, $1;
    ($r{version}, $r{status}) = $status_line =~ m{\A(HTTP/1\.[01]) ([0-9]{3}) };
    for (@lines) {
        my ($n, $val) = /\A([^:]+):[ \t]*(.*)\z/ or next;
        push @{ $r{lines} }, [ $n, $val ];
        $r{headers}{ lc $n } = $val;
    }
    my $h = $r{headers};

    if (($method // '') eq 'HEAD') {
        $r{body} = $r{wire_body} = '';
        $r{complete} = 1;
    } elsif (($h->{'transfer-encoding'} // '') eq 'chunked') {
        my ($wire, $body) = ('', '');
        for (;;) {
            until ($c->{buf} =~ /\r\n/) { $more->() or return \%r }
            $c->{buf} =~ s/\A([0-9A-Fa-f]+)((?:;[^\r]*)?)\r\n//
                or return \%r;
            my ($size, $ext) = (hex $1, $2);
            push @{ $r{chunks} }, [ $size, $ext ];
            if ($size == 0) {
                until ($c->{buf} =~ /\r\n\r\n/ || $c->{buf} =~ /\A\r\n/) {
                    $more->() or return \%r;
                }
                $c->{buf} =~ s/\A((?:[^\r]+\r\n)*)\r\n//;
                $r{trailer} = $1;
                last;
            }
            while (length $c->{buf} < $size + 2) { $more->() or return \%r }
            $body .= substr($c->{buf}, 0, $size + 2, '');
            $body =~ s/\r\n\z// or return \%r;
        }
        $r{body} = $r{wire_body} = $body;
        $r{complete} = 1;
    } elsif (defined $h->{'content-length'}) {
        my $len = $h->{'content-length'};
        while (length $c->{buf} < $len) {
            if (!$more->()) {
                $r{body} = $r{wire_body} = $c->{buf};
                $c->{buf} = '';
                return \%r;
            }
        }
        $r{body} = $r{wire_body} = substr($c->{buf}, 0, $len, '');
        $r{complete} = 1;
    } else {
        1 while $more->();
        $r{body} = $r{wire_body} = $c->{buf};
        $c->{buf} = '';
        $r{complete} = $r{eof} ? 1 : 0;
    }

    if (($h->{'content-encoding'} // '') eq 'gzip') {
        gunzip(\$r{wire_body} => \my $plain) or die $GunzipError;
        $r{body} = $plain;
    }
    $r{t_end} = time - $t0;
    return \%r;
}

# is the connection closed by the server (EOF) within a second?
sub closed {
    my ($c) = @_;
    my $deadline = time + 1;
    while (time < $deadline) {
        my $n = fill($c, $deadline - time);
        return 1 if defined $n && $n == 0;
        return 1 if !defined $n && $c->{err};
    }
    return 0;
}

sub send_bytes {
    my ($c, $bytes) = @_;
    my $s = $c->{sock};
    while (length $bytes) {
        my $n = syswrite($s, $bytes) // die "write: $!";
        substr($bytes, 0, $n, '');
    }
}

# the wire form of a signed request
#   request(path => '/jobs/x', params => [[n, v] ...], headers => [[n, v]],
#           method, version, id, key, key_time, host, auth, extra (raw lines))
sub request {
    my (%a) = @_;
    my $params = $a{params} || [];
    my $host = $a{host} // $HOST;
    my $now = int time + ($a{offset} // 0);
    my $key_time = $a{key_time} // ($now - 1) . ';' . ($now + 900);
    my $auth = $a{auth};
    ($auth) = sign('GET', $a{path}, $params, [ [ host => $host ] ],
                   $a{id} // $ID, $a{key} // $KEY, $key_time)
        unless defined $auth;
    my $target = $a{path} . (@$params ? '?' . join '&', map {
        enc($_->[0]) . '=' . enc($_->[1]) } @$params : '');
    $target .= $a{query_extra} if defined $a{query_extra};
    my $req = ($a{method} // 'GET') . " $target " . ($a{version} // 'HTTP/1.1')
            . "\r\nHost: $host\r\n";
    $req .= "Authorization: $auth\r\n" if length $auth;
    $req .= "$_->[0]: $_->[1]\r\n" for @{ $a{headers} || [] };
    return "$req\r\n";
}

my %SEEN_RIDS;
our $DATE_OFFSET = 0;

sub check_common {
    my ($r, $what) = @_;
    my $h = $r->{headers} || {};
    my @bad;
    push @bad, 'Content-Type' unless ($h->{'content-type'} // '') eq 'application/xml';
    push @bad, 'Content-Length'
        unless ($h->{'transfer-encoding'} // '') eq 'chunked'
               || ($h->{'content-length'} // -1) == length($r->{wire_body} // '');
    push @bad, 'Server' unless ($h->{server} // '') eq 'tencent-ci';
    push @bad, 'Set-Cookie' unless ($h->{'set-cookie'} // '') eq 'ci_emulator=1';
    push @bad, 'X-Emulator-Private' unless ($h->{'x-emulator-private'} // '') eq '1';
    my $rid = $h->{'x-ci-request-id'} // '';
    push @bad, 'x-ci-request-id' unless $rid =~ m{\A[A-Za-z0-9+/]{8,}=*\z}
                                        && !$SEEN_RIDS{$rid}++;
    my $date = http_time($h->{date} // '');
    push @bad, 'Date' unless defined $date
                             && abs($date - time - $DATE_OFFSET) < 5;
    ok(!@bad, "$what: the common headers") or diag("bad: @bad\n"
                                                  . explain($r->{lines}));
}

my %MON = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5,
           Jul => 6, Aug => 7, Sep => 8, Oct => 9, Nov => 10, Dec => 11);

sub http_time {
    my ($s) = @_;
    my ($d, $m, $y, $H, $M, $S) =
        $s =~ /\A\w{3}, (\d\d) (\w{3}) (\d{4}) (\d\d):(\d\d):(\d\d) GMT\z/
        or return;
    return timegm($S, $M, $H, $d, $MON{$m}, $y);
}

# a small well-formedness check: elements nest, one root, text has only
# the five entities and character references, UTF-8
sub well_formed {
    my ($x) = @_;
    my $copy = $x;
    return 0 unless utf8::decode($copy);
    my (@stack, $root);
    pos($x) = 0;
    $x =~ /\G<\?xml[^?]*\?>\s*/gc;
    while (pos($x) < length $x) {
        if ($x =~ /\G<!--.*?-->/gcs) {
        } elsif ($x =~ /\G<!\[CDATA\[.*?\]\]>/gcs) {
            return 0 unless @stack;
        } elsif ($x =~ /\G<\/([A-Za-z_][\w.-]*)\s*>/gc) {
            return 0 unless @stack && pop(@stack) eq $1;
        } elsif ($x =~ /\G<([A-Za-z_][\w.-]*)(?:\s+[A-Za-z_][\w.-]*\s*=\s*(?:"[^"<&]*"|'[^'<&]*'))*\s*(\/?)>/gc) {
            return 0 if !@stack && $root++;
            push @stack, $1 unless $2;
        } elsif ($x =~ /\G([^<]+)/gc) {
            my $t = $1;
            return 0 if !@stack && $t =~ /\S/;
            return 0 if $t =~ /&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);)/;
            return 0 if $t =~ /\]\]>/;
        } else {
            return 0;
        }
    }
    return $root && !@stack ? 1 : 0;
}

sub error_code {
    my ($r) = @_;
    my ($code, $message, $rid) = ($r->{body} // '') =~
        m{\A<Error><Code>([^<]*)</Code><Message>([^<]*)</Message><RequestId>([^<]*)</RequestId></Error>\z}
        or return '(not an error body)';
    return "(RequestId $rid is not x-ci-request-id)"
        unless $rid eq ($r->{headers}{'x-ci-request-id'} // '');
    return wantarray ? ($code, $message) : $code;
}

# a leaf child of each JobsDetail (JobId, State: the job's own, not a
# nested one), in document order
sub job_field {
    my ($field, $body) = @_;
    my @values;
    my @details = split m{<JobsDetail>}, $body;
    shift @details;
    for (@details) {
        push @values, $1 if m{\A\s*(?:<(?!\Q$field\E>)[^>/]*>[^<]*</[^>]*>\s*|<[^>]*/>\s*)*<\Q$field\E>([^<]*)</\Q$field\E>};
    }
    return @values;
}

sub job_ids { return job_field('JobId', $_[0]) }
sub job_states { return job_field('State', $_[0]) }

sub alive {
    my ($pid) = @_;
    return 0 unless kill 0, $pid;
    my $stat = slurp("/proc/$pid/stat");
    return $stat !~ /\A\d+ \(.*\) [ZX] /s;
}

# ===========================================================================
# The plain emulator
# ===========================================================================

my $A = start_emulator('plain', '--secret', "$ID2:$KEY2");
like(slurp($A->{pidfile}), qr/\A$A->{pid}\n\z/, 'the pid file holds the pid');

# one request on a new connection
sub ask {
    my ($e, %a) = @_;
    my $c = connect_to($e, $a{tls});
    send_bytes($c, $a{raw} // request(%a));
    my $r = read_answer($c, $a{method});
    close $c->{sock};
    return $r;
}

sub get_ok {
    my ($e, $what, %a) = @_;
    my $r = ask($e, %a);
    is($r->{status}, 200, "$what: 200") or diag($r->{body});
    check_common($r, $what);
    ok(well_formed($r->{body}), "$what: well-formed XML");
    return $r;
}

sub refused {
    my ($e, $what, $status, $code, %a) = @_;
    my $r = ask($e, %a);
    is($r->{status}, $status, "$what: $status");
    is(scalar error_code($r), $code, "$what: $code");
    check_common($r, $what);
    return $r;
}

# --- the CI-shaped vectors, exactly ---------------------------------------------

for my $target (sort keys %CI_AUTH) {
    my ($path, $query) = split /\?/, $target, 2;
    my $r = get_ok($A, "vector $target", raw => "GET $target HTTP/1.1\r\n"
                   . "Host: $HOST\r\nAuthorization: $CI_AUTH{$target}\r\n\r\n");
    if ($query) {
        like($r->{body}, qr{<NextToken></NextToken>}, "vector $target: an empty list");
    } else {
        like($r->{body}, qr{\A<Response>\s*<NonExistJobIds>j1</NonExistJobIds>\s*</Response>\s*\z},
             "vector $target: j1 does not exist");
    }
}

my $vector_list = (grep { /\?/ } keys %CI_AUTH)[0];
my $vector_raw = sub {
    my ($target, $auth, @headers) = @_;
    return "GET $target HTTP/1.1\r\nHost: $HOST\r\nAuthorization: $auth\r\n"
         . join('', map { "$_\r\n" } @headers) . "\r\n";
};

# --- anything else is refused -----------------------------------------------------

(my $tampered = $CI_AUTH{'/jobs/j1'}) =~ s/(.)\z/$1 eq '9' ? '8' : '9'/e;
refused($A, 'a changed signature', 403, 'SignatureDoesNotMatch',
        raw => $vector_raw->('/jobs/j1', $tampered));
refused($A, 'a signature for another path', 403, 'SignatureDoesNotMatch',
        raw => $vector_raw->('/jobs/j2', $CI_AUTH{'/jobs/j1'}));
my $r = ask($A, raw => "HEAD /jobs/j1 HTTP/1.1\r\nHost: $HOST\r\nAuthorization: "
                   . "$CI_AUTH{'/jobs/j1'}\r\n\r\n", method => 'HEAD');
is($r->{status}, 405, 'HEAD: 405');
cmp_ok($r->{headers}{'content-length'}, '>', 0, 'HEAD: the length of a body not sent');
(my $other_value = $vector_list) =~ s/states=Failed/states=Success/;
refused($A, 'a changed parameter value', 403, 'SignatureDoesNotMatch',
        raw => $vector_raw->($other_value, $CI_AUTH{$vector_list}));
$r = refused($A, 'a parameter that is not signed', 403,
                'SignatureDoesNotMatch',
                raw => $vector_raw->("$vector_list&nextToken=x",
                                     $CI_AUTH{$vector_list}));
(my $fewer = $CI_AUTH{$vector_list}) =~ s/;size;/;/;
refused($A, 'a parameter left out of q-url-param-list', 403,
        'SignatureDoesNotMatch', raw => $vector_raw->($vector_list, $fewer));
(my $wrong_ak = $CI_AUTH{'/jobs/j1'}) =~ s/q-ak=AKID\w+/q-ak=AKIDnosuchkey000000000000000000000/;
refused($A, 'an unknown q-ak', 403, 'InvalidAccessKeyId',
        raw => $vector_raw->('/jobs/j1', $wrong_ak));
refused($A, 'a wrong key for the id', 403, 'SignatureDoesNotMatch',
        path => '/jobs/jobsSuccess1', key => $KEY2);
refused($A, 'another Host', 403, 'InvalidHost',
        raw => "GET /jobs/j1 HTTP/1.1\r\nHost: other.ci.ap-beijing.myqcloud.com\r\n"
               . "Authorization: $CI_AUTH{'/jobs/j1'}\r\n\r\n");
refused($A, 'no Authorization', 403, 'AccessDenied',
        path => '/jobs/jobsSuccess1', auth => '');
my $now = int time;
my ($no_host) = sign('GET', '/jobs/jobsSuccess1', [], [], $ID, $KEY,
                     ($now - 1) . ';' . ($now + 900));
refused($A, 'host not signed', 403, 'SignatureDoesNotMatch',
        path => '/jobs/jobsSuccess1', auth => $no_host);
refused($A, 'a POST', 405, 'MethodNotAllowed', path => '/jobs/jobsSuccess1',
        method => 'POST');
is(ask($A, path => '/jobs/jobsSuccess1', method => 'POST')->{headers}{allow},
   'GET', '405 says Allow: GET');

for my $case ([ 'an expired signature', ($now - 2000) . ';' . ($now - 1000) ],
              [ 'a signature not valid yet', ($now + 1000) . ';' . ($now + 2000) ],
              [ 'the PUT vector\'s KeyTime', '1557989151;1557996351' ]) {
    my ($what, $key_time) = @$case;
    my $r = refused($A, $what, 403, 'RequestTimeTooSkewed',
                    path => '/jobs/jobsSuccess1', key_time => $key_time);
    is((error_code($r))[1], $SKEW, "$what: the message");
}

# every pair accepted, and a good signature of our own signer
get_ok($A, 'the second key pair', path => '/jobs/jobsSuccess1', id => $ID2,
       key => $KEY2);
get_ok($A, 'our own signature', path => '/jobs/jobsSuccess1');

refused($A, 'an unknown API', 404, 'NoSuchApi', path => '/objects/x');
refused($A, 'a bad percent-escape', 400, 'InvalidArgument',
        raw => "GET /jobs/a%zz HTTP/1.1\r\nHost: $HOST\r\nAuthorization: x\r\n\r\n");

my @rec = records($A);
my ($unsigned) = grep { ($_->{target} // '') eq "$vector_list&nextToken=x" } @rec;
like($unsigned->{signature}, qr/\Abad: .*nexttoken.*not in q-url-param-list/,
     'record: why an unsigned parameter is refused');
my ($tamper_rec) = grep { ($_->{target} // '') eq '/jobs/j2' } @rec;
like($tamper_rec->{signature}, qr{\Abad: signature mismatch; HttpString was "get\\x0a/jobs/j2\\x0a},
     'record: a mismatch shows the HttpString');

# ===========================================================================
# The jobs
# ===========================================================================

my %PREFIX = (jobs => 'jobs', pic_jobs => 'pic', ai_jobs => 'ai',
              inventorytriggerjob => 'inv');
my @STATES = qw(Submitted Running Pause Success Failed Cancel);

for my $api (sort keys %PREFIX) {
    my @ids = map { "$PREFIX{$api}${_}1" } @STATES;
    my @got;
    for my $id (@ids) {
        my $r = ask($A, path => "/$api/$id");
        push @got, $r->{status} == 200 && well_formed($r->{body})
                   ? join(':', job_ids($r->{body}), job_states($r->{body}))
                   : "$r->{status}";
    }
    is_deeply(\@got, [ map { "$PREFIX{$api}${_}1:$_" } @STATES ],
              "/$api: a job in each state");
}

$r = get_ok($A, 'six media jobs at once',
            path => '/jobs/' . join ',', map { "jobs${_}3" } @STATES);
is_deeply([ job_states($r->{body}) ], \@STATES, 'six media jobs: in request order');
unlike($r->{body}, qr/NonExistJobIds/, 'six media jobs: no NonExistJobIds');

for my $seed ([ jobs => 'j8d121820f5e411ec926ef19d53ba9c6f', 'Success' ],
              [ jobs => 'j9c0a4726f6ac11ec96aaa9b64ab18d00', 'Success' ],
              [ pic_jobs => 'c93984788066911ed89ed352d4d9d2084', 'Submitted' ],
              [ ai_jobs => 'a8d121820f5e411ec926ef19d53ba9c6f', 'Running' ],
              [ inventorytriggerjob => 'b3deffea2f84911ec9cb15254008618d9', 'Running' ]) {
    my ($api, $id, $state) = @$seed;
    my $r = get_ok($A, "seed $api/$id", path => "/$api/$id");
    is(join(':', job_ids($r->{body}), job_states($r->{body})), "$id:$state",
       "seed $api/$id: $state");
}

$r = ask($A, path => '/inventorytriggerjob/invSuccess2');
my $rid = $r->{headers}{'x-ci-request-id'};
like($r->{body}, qr{\A<Response>\s*<RequestId>\Q$rid\E</RequestId>\s*<JobsDetail>},
     'inventorytriggerjob: RequestId first, the x-ci-request-id');

$r = get_ok($A, 'a trap in UserData', path => '/jobs/jobsUserData1');
is_deeply([ job_states($r->{body}) ], ['Running'], 'jobsUserData1: Running');
like($r->{body}, qr{<UserData>&lt;State&gt;Success&lt;/State&gt;</UserData>},
     'jobsUserData1: an escaped State in UserData');
$r = get_ok($A, 'CDATA', path => '/jobs/jobsCdata1');
like($r->{body}, qr{<UserData><!\[CDATA\[<State>Success</State>}, 'jobsCdata1: CDATA');
$r = get_ok($A, 'UTF-8', path => '/jobs/jobsUnicode1');
like($r->{body}, qr{<Object>input/\xe8\x85\xbe\xe8\xae\xaf\xe4\xba\x91 }, 'jobsUnicode1: UTF-8 bytes');

$r = get_ok($A, 'found and missing ids',
            path => '/jobs/nosuch1,jobsSuccess1,picSuccess1,jobsFailed1,nosuch2');
is_deeply([ job_ids($r->{body}) ], [qw(jobsSuccess1 jobsFailed1)],
          'found and missing: the found ones, in order');
is_deeply([ $r->{body} =~ m{<NonExistJobIds>([^<]*)</NonExistJobIds>}g ],
          [qw(nosuch1 picSuccess1 nosuch2)], 'found and missing: one NonExistJobIds each');
$r = get_ok($A, 'ten ids', path => '/jobs/' . join ',', map { "jobsSuccess$_" } 1 .. 10);
is(scalar(job_ids($r->{body})), 10, 'ten ids: ten jobs');
refused($A, 'eleven ids', 400, 'InvalidArgument',
        path => '/jobs/' . join ',', map { "jobsSuccess$_" } 1 .. 11);
refused($A, 'two ids to pic_jobs', 400, 'InvalidArgument',
        path => '/pic_jobs/picSuccess1,picSuccess2');
refused($A, 'an empty id', 400, 'InvalidArgument', path => '/jobs/a,,b');

# ===========================================================================
# The list
# ===========================================================================

# the queue as documented at the top of the emulator
my @TRANSLATION = (
    { id => 'a8d121820f5e411ec926ef19d53ba9c6f', state => 'Running',
      t => 1657167132, input => 'test.txt', wf => '', inv => '' },
    map { my $n = $_;
          { id => sprintf('listJob%02d', $n), state => $STATES[ $n % 6 ],
            t => 1657166400 + 3600 * $n, wf => $n % 2 ? 'w1' : 'w2',
            inv => $n % 3 == 0 ? 'inv1' : $n % 5 == 0 ? 'inv2' : '',
            input => { 5 => 'input/a b+c.txt', 7 => 'input/腾讯云 视频.txt',
                       11 => 'input/q&a=1%;#?.txt',
                       15 => 'input/shared+file 1.txt',
                       21 => 'input/shared+file 1.txt' }->{$n}
                     // sprintf('input/file%02d.txt', $n) } } 1 .. 25);
my @DESC = map { $_->{id} } sort { $b->{t} <=> $a->{t} } @TRANSLATION;

sub list {
    my ($e, @params) = @_;
    my $r = ask($e, path => '/jobs', params => [ [ queueId => $QUEUE ], @params ]);
    my ($next) = ($r->{body} // '') =~ m{<NextToken>([^<]*)</NextToken>};
    return ($r, [ job_ids($r->{body} // '') ], $next);
}

my ($l, $ids, $next) = list($A, [ tag => 'Translation' ]);
is($l->{status}, 200, 'list: 200');
ok(well_formed($l->{body}), 'list: well-formed');
is_deeply($ids, [ @DESC[0 .. 9] ], 'list: 10 by default, newest first');
ok(length $next, 'list: a NextToken');

my (@paged, $pages);
$next = '';
do {
    ($l, $ids, $next) = list($A, [ tag => 'Translation' ], [ size => 7 ],
                             length $next ? [ nextToken => $next ] : ());
    push @paged, @$ids;
    $pages++;
} while ($l->{status} == 200 && length($next // '') && $pages < 10);
is_deeply(\@paged, \@DESC, 'paging by 7: every job once, in order');
is($pages, 4, 'paging by 7: four pages, the last with an empty NextToken');
like($l->{body}, qr{<NextToken></NextToken>}, 'the last page: <NextToken></NextToken>');

($l, $ids, $next) = list($A, [ tag => 'Translation' ], [ size => 100 ],
                         [ orderByTime => 'Asc' ]);
is_deeply($ids, [ reverse @DESC ], 'Asc, size 100: the whole queue, oldest first');
is($next, '', 'the whole queue: no NextToken');
my @times = $l->{body} =~ m{<CreationTime>([^<]*)</CreationTime>}g;
is_deeply(\@times, [ sort @times ], 'Asc: creation times ascend');

my $expect = sub {
    my ($filter, $order) = @_;
    my @j = grep { $filter->($_) } @TRANSLATION;
    return [ map { $_->{id} } sort { $order && $order eq 'Asc'
                                     ? $a->{t} <=> $b->{t}
                                     : $b->{t} <=> $a->{t} } @j ];
};

for my $case (
    [ 'states=Failed', [ states => 'Failed' ], sub { $_[0]{state} eq 'Failed' } ],
    [ 'states=Success,Pause', [ states => 'Success,Pause' ],
      sub { $_[0]{state} =~ /\A(Success|Pause)\z/ } ],
    [ 'states=All,Failed', [ states => 'All,Failed' ], sub { 1 } ],
    [ 'workflowId=w2', [ workflowId => 'w2' ], sub { $_[0]{wf} eq 'w2' } ],
    [ 'inventoryTriggerJobId=inv2', [ inventoryTriggerJobId => 'inv2' ],
      sub { $_[0]{inv} eq 'inv2' } ],
    [ 'inputObject with space and plus', [ inputObject => 'input/a b+c.txt' ],
      sub { $_[0]{input} eq 'input/a b+c.txt' } ],
    [ 'inputObject in UTF-8', [ inputObject => 'input/腾讯云 视频.txt' ],
      sub { $_[0]{input} eq 'input/腾讯云 视频.txt' } ],
    [ 'inputObject with & = % ; # ?', [ inputObject => 'input/q&a=1%;#?.txt' ],
      sub { $_[0]{input} eq 'input/q&a=1%;#?.txt' } ],
    [ 'startCreationTime (exclusive)',
      [ startCreationTime => '2022-07-08T09:00:00+0800' ],
      sub { $_[0]{t} > 1657242000 } ],
    [ 'endCreationTime (exclusive), another zone',
      [ endCreationTime => '2022-07-07T07:00:00+0000' ],
      sub { $_[0]{t} < 1657177200 } ],
) {
    my ($what, $param, $filter) = @$case;
    ($l, $ids) = list($A, [ tag => 'Translation' ], [ size => 100 ], $param);
    is($l->{status}, 200, "list $what: 200");
    is_deeply($ids, $expect->($filter), "list $what: the right jobs");
}

($l, $ids) = list($A, [ tag => 'Transcode' ]);
is_deeply($ids, [ map { "listTranscode$_" } reverse 1 .. 5 ], 'tag Transcode: its own jobs');
($l, $ids, $next) = list($A, [ tag => 'SpeechRecognition' ]);
is_deeply([ $ids, $next ], [ [], '' ], 'a tag without jobs: empty');

# every optional parameter at once, through two pages
my @every = ([ tag => 'Translation' ], [ states => 'Success,Failed' ],
             [ orderByTime => 'Asc' ], [ size => 1 ], [ workflowId => 'w1' ],
             [ inventoryTriggerJobId => 'inv1' ],
             [ inputObject => 'input/shared+file 1.txt' ],
             [ startCreationTime => '2022-07-07T20:00:00+0800' ],
             [ endCreationTime => '2022-07-08T10:00:00+0800' ]);
($l, $ids, $next) = list($A, @every, [ nextToken => '' ]);
is_deeply($ids, ['listJob15'], 'every parameter, page 1');
ok(length $next, 'every parameter, page 1: a NextToken');
my $token = $next;
($l, $ids, $next) = list($A, @every, [ nextToken => $token ]);
is_deeply([ $ids, $next ], [ ['listJob21'], '' ], 'every parameter, page 2: the last');
my ($every_rec) = grep { ($_->{target} // '') =~ /inputObject=.*nextToken=\w/ } records($A);
is($every_rec->{signature}, 'ok', 'every parameter: the signature is accepted');
like((map { $_->[1] } grep { $_->[0] eq 'Authorization' } @{ $every_rec->{headers} })[0],
     qr/&q-url-param-list=endcreationtime;inputobject;inventorytriggerjobid;nexttoken;orderbytime;queueid;size;startcreationtime;states;tag;workflowid&/,
     'every parameter: all signed');

for my $case (
    [ 'no tag' ],
    [ 'an empty tag', [ tag => '' ] ],
    [ 'size=0', [ tag => 'T' ], [ size => 0 ] ],
    [ 'size=101', [ tag => 'T' ], [ size => 101 ] ],
    [ 'size=1x', [ tag => 'T' ], [ size => '1x' ] ],
    [ 'states=Done', [ tag => 'T' ], [ states => 'Done' ] ],
    [ 'states=Success,', [ tag => 'T' ], [ states => 'Success,' ] ],
    [ 'orderByTime=desc', [ tag => 'T' ], [ orderByTime => 'desc' ] ],
    [ 'a date without time', [ tag => 'T' ], [ startCreationTime => '2022-07-07' ] ],
    [ 'February 30th', [ tag => 'T' ], [ endCreationTime => '2022-02-30T00:00:00+0800' ] ],
    [ 'a zone with a colon', [ tag => 'T' ], [ startCreationTime => '2022-07-07T00:00:00+08:00' ] ],
    [ 'a made-up nextToken', [ tag => 'Translation' ], [ nextToken => 'garbage' ] ],
    [ 'a nextToken of another query', [ tag => 'Translation' ],
      [ states => 'Failed' ], [ nextToken => $token ] ],
    [ 'a repeated parameter', [ tag => 'Translation' ], [ tag => 'Transcode' ] ],
) {
    my ($what, @params) = @$case;
    ($l) = list($A, @params);
    is($l->{status}, 400, "list with $what: 400");
    is(scalar error_code($l), 'InvalidArgument', "list with $what: InvalidArgument");
}
refused($A, 'a list without queueId', 400, 'InvalidArgument', path => '/jobs',
        params => [ [ tag => 'Translation' ] ]);

# ===========================================================================
# Faults
# ===========================================================================

# the record line is there before the answer
my $c = connect_to($A);
my $sent = time;
send_bytes($c, request(path => '/jobs/faultslow1'));
sleep 0.4;
ok((grep { ($_->{target} // '') eq '/jobs/faultslow1' } records($A)),
   'faultslow1: recorded before the answer');
$r = read_answer($c);
close $c->{sock};
is($r->{status}, 200, 'faultslow1: 200');
cmp_ok(time - $sent, '>=', 0.95, 'faultslow1: after a second');
is(join(':', job_ids($r->{body}), job_states($r->{body})), 'faultslow1:Success',
   'faultslow1: a Success job');

$r = ask($A, path => '/ai_jobs/faultslowbody1');
ok($r->{complete} && well_formed($r->{body}), 'faultslowbody1: the whole body');
cmp_ok($r->{t_head}, '<', 0.5, 'faultslowbody1: the head at once');
cmp_ok($r->{t_end} - $r->{t_head}, '>=', 0.9, 'faultslowbody1: the rest a second later');

$r = ask($A, path => '/jobs/faultreset');
ok($r->{reset} && !defined $r->{status}, 'faultreset: a reset, no answer');

$r = ask($A, path => '/pic_jobs/faultresetbody');
ok($r->{reset}, 'faultresetbody: a reset');
is($r->{status}, 200, 'faultresetbody: after the head');
cmp_ok(length($r->{body} // ''), '>', 0, 'faultresetbody: part of the body');
cmp_ok(length($r->{body} // ''), '<', $r->{headers}{'content-length'},
       'faultresetbody: not all of it');

refused($A, 'fault500', 500, 'InternalError', path => '/jobs/fault500');
refused($A, 'fault503', 503, 'ServiceUnavailable', path => '/inventorytriggerjob/fault503');
refused($A, 'fault500 in the list', 500, 'InternalError', path => '/jobs',
        params => [ [ queueId => 'fault500' ], [ tag => 'Translation' ] ]);
refused($A, 'a fault id needs a good signature', 403, 'SignatureDoesNotMatch',
        raw => $vector_raw->('/jobs/faultreset', $CI_AUTH{'/jobs/j1'}));

$r = ask($A, path => '/jobs/faulttruncated');
is($r->{status}, 200, 'faulttruncated: 200');
ok($r->{eof} && !$r->{complete}, 'faulttruncated: closed before Content-Length');
is(length($r->{body}) + 64, $r->{headers}{'content-length'},
   'faulttruncated: 64 bytes short');

$r = ask($A, path => '/jobs/faultmalformed');
is($r->{status}, 200, 'faultmalformed: 200');
check_common($r, 'faultmalformed');
ok(!well_formed($r->{body}), 'faultmalformed: not well-formed');
$r = ask($A, path => '/jobs', params => [ [ queueId => 'faultmalformed' ],
                                          [ tag => 'Translation' ] ]);
ok($r->{status} == 200 && !well_formed($r->{body}), 'faultmalformed in the list');

$r = ask($A, path => '/jobs/faulthuge');
is($r->{status}, 200, 'faulthuge: 200');
ok($r->{complete} && length($r->{body}) > 9_500_000
   && length($r->{body}) < 11_000_000, 'faulthuge: about 10 MB')
    or diag(length $r->{body});
like(substr($r->{body}, -200), qr{</JobsDetail>\n</Response>\n\z}, 'faulthuge: whole');
$r = ask($A, path => '/jobs/faultbig');
ok($r->{complete} && length($r->{body}) > 2_800_000
   && length($r->{body}) < 3_500_000, 'faultbig: about 3 MB');
ok(well_formed($r->{body}), 'faultbig: well-formed');

$r = ask($A, path => '/jobs/faultchunked');
is($r->{status}, 200, 'faultchunked: 200');
check_common($r, 'faultchunked');
ok(!defined $r->{headers}{'content-length'}, 'faultchunked: no Content-Length');
cmp_ok(scalar(@{ $r->{chunks} || [] }), '>=', 5, 'faultchunked: several chunks and the last');
ok((grep { length $_->[1] } @{ $r->{chunks} || [] }), 'faultchunked: a chunk extension');
like($r->{trailer} // '', qr/\AX-Trailer: \S+\r\n\z/, 'faultchunked: a trailer');
ok(well_formed($r->{body}) && join('', job_states($r->{body})) eq 'Success',
   'faultchunked: a whole job');
$r = ask($A, path => '/jobs/faultchunked', version => 'HTTP/1.0');
ok(defined $r->{headers}{'content-length'} && !$r->{headers}{'transfer-encoding'},
   'faultchunked to HTTP/1.0: Content-Length');

for my $case ([ 'gzip, deflate', 'gzip' ], [ undef, undef ],
              [ 'gzip;q=0, identity', undef ], [ '*', 'gzip' ]) {
    my ($accept, $coding) = @$case;
    my $r = ask($A, path => '/jobs/faultgzip',
                headers => [ defined $accept ? [ 'Accept-Encoding' => $accept ] : () ]);
    my $what = 'faultgzip, Accept-Encoding ' . ($accept // 'absent');
    is($r->{headers}{'content-encoding'}, $coding, "$what: " . ($coding // 'identity'));
    ok(well_formed($r->{body}) && join('', job_states($r->{body})) eq 'Success',
       "$what: the job");
    check_common($r, $what);
}

for my $api (qw(jobs ai_jobs)) {
    my @s = map { job_states(ask($A, path => "/$api/faultstate")->{body}) } 1 .. 4;
    is_deeply(\@s, [qw(Submitted Running Success Success)],
              "$api/faultstate: Submitted, Running, then Success");
}

# tick<S>x<N>: Running, one step further every S seconds, job N's steps
# N * S / 100 seconds after job 0's
{
    my $before = time;
    my $answer = ask($A, path => '/jobs/tick2x50')->{body};
    my $after = time;
    my ($progress) = job_field('Progress', $answer);
    my @may = map { int(($_ * 1000 - 1000) / 2000) % 100 } $before, $after;
    is_deeply([ job_states($answer) ], [ 'Running' ], 'tick2x50: Running');
    ok(grep({ $_ == $progress } @may),
       "tick2x50: the step of the clock, 1 s later than job 0's")
        or diag("$progress, not one of @may");
}

$r = ask($A, path => '/jobs/faultclose');
ok($r->{eof} && !defined $r->{status}, 'faultclose: closed without an answer');
$r = ask($A, path => '/jobs/faultcontenttype');
is($r->{headers}{'content-type'}, 'text/plain', 'faultcontenttype: text/plain');
ok($r->{status} == 200 && well_formed($r->{body})
   && join('', job_states($r->{body})) eq 'Success', 'faultcontenttype: a good answer');
$r = ask($A, path => '/jobs/faultnolength');
ok($r->{complete} && !defined $r->{headers}{'content-length'}
   && well_formed($r->{body}), 'faultnolength: a body that ends at close');

# ===========================================================================
# HTTP
# ===========================================================================

$c = connect_to($A);
send_bytes($c, request(path => '/jobs/jobsSuccess11'));
my $r1 = read_answer($c);
send_bytes($c, request(path => '/jobs/jobsRunning11'));
my $r2 = read_answer($c);
is_deeply([ $r1->{status}, $r2->{status} ], [ 200, 200 ], 'keepalive: two answers');
is($r1->{headers}{connection}, 'keep-alive', 'keepalive: Connection: keep-alive');
send_bytes($c, request(path => '/jobs/jobsSuccess12') . request(path => '/jobs/jobsFailed12')
               . request(path => '/jobs/jobsCancel12', headers => [ [ Connection => 'close' ] ]));
my @three = map { join ':', job_ids(read_answer($c)->{body}) } 1 .. 3;
is_deeply(\@three, [qw(jobsSuccess12 jobsFailed12 jobsCancel12)], 'pipelined: three answers in order');
ok(closed($c), 'Connection: close closes');
my @pids = map { $_->{pid} } grep { ($_->{target} // '') =~ m{\A/jobs/(jobsSuccess11|jobsRunning11|jobsSuccess12|jobsFailed12|jobsCancel12)\z} } records($A);
is(scalar(@pids), 5, 'keepalive: five requests recorded');
is(scalar(keys %{{ map { $_ => 1 } @pids }}), 1, 'keepalive: one connection, one pid');

$c = connect_to($A);
send_bytes($c, request(path => '/jobs/jobsSuccess1', version => 'HTTP/1.0'));
$r = read_answer($c);
is($r->{status}, 200, 'HTTP/1.0: 200');
is($r->{headers}{connection}, 'close', 'HTTP/1.0: Connection: close');
ok(closed($c), 'HTTP/1.0: closed after the answer');

$c = connect_to($A);
send_bytes($c, request(path => '/jobs/jobsSuccess1', version => 'HTTP/1.0',
                       headers => [ [ Connection => 'keep-alive' ] ])
               . request(path => '/jobs/jobsSuccess2', version => 'HTTP/1.0'));
is_deeply([ map { read_answer($c)->{status} } 1 .. 2 ], [ 200, 200 ],
          'HTTP/1.0 with Connection: keep-alive: kept');
ok(closed($c), 'HTTP/1.0: then closed');

$c = connect_to($A);
send_bytes($c, request(path => '/jobs/jobsSuccess1', headers => [ [ 'Content-Length' => 5 ] ])
               . 'hello' . request(path => '/jobs/jobsSuccess3'));
is_deeply([ map { join ':', job_ids(read_answer($c)->{body}) } 1 .. 2 ],
          [qw(jobsSuccess1 jobsSuccess3)], 'a request body is read and dropped');
close $c->{sock};

for my $garbage ("HELLO\r\n\r\n", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
                 "GET /jobs/x HTTP/1.1\r\nHost: $HOST\r\nBad Header\r\n\r\n",
                 "GET /jobs/x HTTP/2.0\r\nHost: $HOST\r\n\r\n",
                 "GET /jobs/x HTTP/1.1\r\n folded: x\r\n\r\n",
                 "GET /jobs/x HTTP/1.1\r\nHost: $HOST\r\nHost: $HOST\r\n\r\n",
                 "GET /jobs/x HTTP/1.1\r\nHost: $HOST\r\nX: " . ('a' x 70000) . "\r\n\r\n") {
    (my $shown = substr($garbage, 0, 24)) =~ s/([^\x20-\x7e])/sprintf '\\x%02x', ord $1/ge;
    my $c = connect_to($A);
    send_bytes($c, $garbage);
    my $r = read_answer($c);
    is($r->{status}, 400, "garbage \"$shown\": 400");
    is(scalar error_code($r), 'InvalidArgument', "garbage \"$shown\": InvalidArgument");
    ok(closed($c), "garbage \"$shown\": closed");
}
ok((grep { $_->{signature} =~ /\Abad: malformed request/ && !defined $_->{method} }
    records($A)), 'garbage is recorded too');

# the record
$r = ask($A, path => '/jobs/jobsPause4',
         headers => [ [ 'X-Zeta' => 'z' ], [ Cookie => 'a=b' ], [ 'X-Alpha' => ' a b ' ] ]);
my ($rec) = grep { ($_->{target} // '') eq '/jobs/jobsPause4' } records($A);
is_deeply([ sort keys %$rec ],
          [qw(code fault headers method pid request_id response response_sha1 signature status target time tls_resumed version)],
          'record: the fields');
is_deeply([ map { $_->[0] } @{ $rec->{headers} } ],
          [qw(Host Authorization X-Zeta Cookie X-Alpha)], 'record: headers in received order');
is($rec->{headers}[4][1], 'a b', 'record: header values without surrounding blanks');
is_deeply([ @$rec{qw(method version signature status)} ], [ 'GET', 'HTTP/1.1', 'ok', 200 ],
          'record: method, version, signature, status');
is($rec->{response_sha1}, sha1_hex($r->{wire_body}), 'record: the body sent');
is($rec->{response}, $r->{wire_body}, 'record: the body itself, byte for byte');
my ($huge_rec) = grep { ($_->{target} // '') eq '/jobs/faulthuge' } records($A);
ok($huge_rec && !exists $huge_rec->{response} && $huge_rec->{response_sha1},
   'record: no body of 1 MB or more');
my ($utf8_rec) = grep { ($_->{target} // '') eq '/jobs/jobsUnicode1' } records($A);
like($utf8_rec->{response}, qr{<Object>input/\xe8\x85\xbe}, 'record: UTF-8 bodies as bytes');
is($rec->{request_id}, $r->{headers}{'x-ci-request-id'}, 'record: the request id');
ok($rec->{pid} =~ /\A\d+\z/ && $rec->{pid} != $A->{pid}, 'record: the connection\'s pid');
ok(abs($rec->{time} - time) < 30, 'record: the time');
like((grep { /jobsPause4/ } split /\n/, slurp($A->{record}))[0], qr/\A\{"code":null,"fault":null,"headers":/,
     'record: canonical JSON');
my ($refused_rec) = grep { ($_->{target} // '') eq '/jobs/j2' } records($A);
is_deeply([ @$refused_rec{qw(status code)} ], [ 403, 'SignatureDoesNotMatch' ],
          'record: a refused request');

# ===========================================================================
# TLS, token, clock offset
# ===========================================================================

# a throwaway self-signed certificate for the bucket's host
system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
       . "-nodes -days 1 -subj /CN=$HOST -addext subjectAltName=DNS:$HOST "
       . "-keyout $DIR/tls.key -out $DIR/tls.crt >/dev/null 2>&1") == 0
    or die 'openssl req failed';

my $B = start_emulator('tls', '--tls-cert', "$DIR/tls.crt", '--tls-key', "$DIR/tls.key",
                       '--clock-offset', 3600, '--require-token', 'sts-token-1');
my $tls = "$DIR/tls.crt";
my @token = (headers => [ [ 'x-ci-security-token' => 'sts-token-1' ] ]);
{
    local $DATE_OFFSET = 3600;
    get_ok($B, 'TLS, token, offset clock', tls => $tls, path => '/jobs/jobsSuccess1',
           offset => 3600, @token);
    get_ok($B, 'TLS: the CI vector with the token', tls => $tls,
           raw => $vector_raw->('/jobs/j1', $CI_AUTH{'/jobs/j1'},
                                'x-ci-security-token: sts-token-1'));
    my $r = refused($B, 'TLS: no token', 403, 'InvalidAccessKeyId', tls => $tls,
                    path => '/jobs/jobsSuccess1', offset => 3600);
    is((error_code($r))[1], 'token invalid', 'no token: "token invalid"');
    refused($B, 'TLS: a wrong token', 403, 'InvalidAccessKeyId', tls => $tls,
            path => '/jobs/jobsSuccess1', offset => 3600,
            headers => [ [ 'x-ci-security-token' => 'sts-token-2' ] ]);
    $r = refused($B, 'TLS: signed with the real clock, an hour behind', 403,
                 'RequestTimeTooSkewed', tls => $tls, path => '/jobs/jobsSuccess1', @token);
    is((error_code($r))[1], $SKEW, 'clock offset: the message');

    my $c = connect_to($B, $tls);
    send_bytes($c, request(path => '/jobs/jobsSuccess1', offset => 3600, @token));
    my $r1 = read_answer($c);
    send_bytes($c, request(path => '/ai_jobs/aiFailed1', offset => 3600, @token));
    my $r2 = read_answer($c);
    is_deeply([ $r1->{status}, $r2->{status} ], [ 200, 200 ], 'TLS keepalive: two answers');
    is(join(':', job_states($r2->{body})), 'Failed', 'TLS keepalive: the second job');
    close $c->{sock};
}
my @tls_rec = records($B);
ok(@tls_rec >= 7 && !grep({ $_->{version} ne 'HTTP/1.1' } @tls_rec), 'TLS: recorded');

# ===========================================================================
# Stopping
# ===========================================================================

# SIGTERM: the children go with the parent
$c = connect_to($A);
send_bytes($c, request(path => '/jobs/faultslow9'));
my $deadline = time + 3;
my $slow;
until ($slow || time > $deadline) {
    ($slow) = grep { ($_->{target} // '') eq '/jobs/faultslow9' } records($A);
    sleep 0.05;
}
ok($slow && alive($slow->{pid}), 'a child serves the slow request');
stop_emulator($A);
$deadline = time + 2;
sleep 0.05 while $slow && alive($slow->{pid}) && time < $deadline;
ok($slow && !alive($slow->{pid}), 'SIGTERM: the child is gone with the parent');
ok(!-e $A->{pidfile}, 'SIGTERM: the pid file is removed');
close $c->{sock};

# SIGKILL: a child notices that its parent is gone
$c = connect_to($B, $tls);
send_bytes($c, request(path => '/jobs/faultslow9', offset => 3600, @token));
$deadline = time + 3;
undef $slow;
until ($slow || time > $deadline) {
    ($slow) = grep { ($_->{target} // '') eq '/jobs/faultslow9' } records($B);
    sleep 0.05;
}
kill 'KILL', $B->{pid};
waitpid $B->{pid}, 0;
delete $RUNNING{ $B->{pid} };
$deadline = time + 3;
sleep 0.05 while $slow && alive($slow->{pid}) && time < $deadline;
ok($slow && !alive($slow->{pid}), 'SIGKILL: the orphaned child exits by itself');
close $c->{sock};

is(slurp($A->{log}) . slurp($B->{log}), '', 'nothing on the emulators\' stderr');

done_testing;
